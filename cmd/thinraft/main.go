// Command thinraft is the thinraft binary: CLI, agent and server in one.
// The LVM-like commands arrive with the CLI issue; today it only reports
// its version and says so plainly.
package main

import (
	"fmt"
	"os"
)

const version = "0.1.0-dev"

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "version" || os.Args[1] == "--version") {
		fmt.Println("thinraft", version)
		return
	}
	fmt.Fprintln(os.Stderr, "thinraft: the LVM-like commands are not built yet (they arrive with the CLI issue); only `thinraft version` works today")
	os.Exit(3)
}
