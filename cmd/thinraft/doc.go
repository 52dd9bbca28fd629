// Command thinraft: see main.go. Imports cli (and, for the agent, cluster).
package main
