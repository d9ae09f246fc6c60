// Command vsrp is the VSRP server and its operator tools.
package main

import (
	"os"

	"github.com/vsrp-dev/vsrp/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
