package cli

import (
	"bufio"
	"fmt"
	"strings"
)

// confirm asks LVM's question ("...? [y/n]: ") and reads the answer from
// stdin: y or yes is yes; n, no or end of input is no (the default); any
// other answer asks again, as LVM does. yes (-y) answers without asking.
func (a *app) confirm(yes bool, format string, args ...any) bool {
	if yes {
		return true
	}
	if a.in == nil {
		a.in = bufio.NewReader(a.env.Stdin)
	}
	q := fmt.Sprintf(format, args...)
	for range 5 {
		fmt.Fprintf(a.env.Stdout, "%s [y/n]: ", q)
		line, err := a.in.ReadString('\n')
		ans := strings.ToLower(strings.TrimSpace(line))
		switch {
		case ans == "y" || ans == "yes":
			return true
		case ans == "n" || ans == "no":
			return false
		case err != nil:
			fmt.Fprintln(a.env.Stdout)
			return false
		}
	}
	return false
}
