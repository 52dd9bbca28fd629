package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/thinraft/thinraft/metadata"
	ucli "github.com/urfave/cli/v3"
)

// nodeCmd is `thinraft node list|leave|remove`.
func (a *app) nodeCmd() *ucli.Command {
	return &ucli.Command{
		Name:   "node",
		Usage:  "cluster membership",
		Action: needSub,
		Commands: []*ucli.Command{
			{Name: "list", Usage: "list the nodes", Action: a.nodeList},
			{Name: "leave", Usage: "a live node leaves the cluster (it must own no pools); stop its process afterwards", ArgsUsage: "ID",
				Action: func(ctx context.Context, cmd *ucli.Command) error {
					return a.nodeAdmin(ctx, cmd, "leave", func(cl API, id string) error { _, err := cl.LeaveNode(ctx, id); return err })
				}},
			{Name: "remove", Usage: "remove a dead node from Raft and the model", ArgsUsage: "ID",
				Flags: []ucli.Flag{
					&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not prompt"},
					&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove it even though it is up"},
				},
				Action: func(ctx context.Context, cmd *ucli.Command) error {
					if cmd.Args().Len() == 1 && !a.confirm(cmd.Bool("yes"), "Do you really want to remove node %s from the cluster?", cmd.Args().First()) {
						a.printf("  Node %s not removed.\n", cmd.Args().First())
						return nil
					}
					return a.nodeAdmin(ctx, cmd, "remove", func(cl API, id string) error {
						_, err := cl.RemoveNode(ctx, id, cmd.Bool("force"))
						return err
					})
				}},
		},
	}
}

func (a *app) nodeAdmin(_ context.Context, cmd *ucli.Command, verb string, f func(API, string) error) error {
	if cmd.Args().Len() != 1 {
		return usagef("thinraft node %s takes one node id", verb)
	}
	id := cmd.Args().First()
	cl, err := a.client(cmd)
	if err != nil {
		return err
	}
	if err := f(cl, id); err != nil {
		return apiErr(fmt.Sprintf("node %s %s", verb, id), err)
	}
	a.printf("  Node %s: %s done.\n", id, verb)
	return nil
}

func (a *app) nodeList(ctx context.Context, cmd *ucli.Command) error {
	cl, err := a.client(cmd)
	if err != nil {
		return err
	}
	nodes, err := cl.Nodes(ctx)
	if err != nil {
		return apiErr("list nodes", err)
	}
	info, err := cl.Cluster(ctx)
	if err != nil {
		return apiErr("cluster", err)
	}
	slices.SortFunc(nodes, func(x, y metadata.Node) int { return strings.Compare(x.ID, y.ID) })
	a.printf("  %-8s %-6s %-6s %-7s %-22s %-22s\n", "ID", "State", "Voter", "Leader", "API", "NBD")
	for _, n := range nodes {
		a.printf("  %-8s %-6s %-6s %-7s %-22s %-22s\n", n.ID, n.State, yn(n.Voter), yn(n.ID == info.LeaderID), n.APIAddr, n.NBDAddr)
	}
	return nil
}

func yn(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (a *app) clusterStatusCmd() *ucli.Command {
	return &ucli.Command{
		Name:  "status",
		Usage: "the cluster as the answering node sees it: leader, members, Raft configuration",
		Action: func(ctx context.Context, cmd *ucli.Command) error {
			cl, err := a.client(cmd)
			if err != nil {
				return err
			}
			info, err := cl.Cluster(ctx)
			if err != nil {
				return apiErr("cluster status", err)
			}
			leader := info.LeaderID
			if leader == "" {
				leader = "none (election or no quorum)"
			}
			a.printf("  Answered by      %s\n", info.Node)
			a.printf("  Leader           %s %s\n", leader, info.LeaderAPIAddr)
			a.printf("  Applied index    %d\n", info.AppliedIndex)
			a.printf("  Members          %d\n", len(info.Members))
			for _, m := range info.Members {
				a.printf("    %-8s %-5s voter=%-3s api=%s\n", m.ID, m.State, yn(m.Voter), m.APIAddr)
			}
			if len(info.Raft) > 0 {
				a.printf("  Raft configuration\n")
				for _, s := range info.Raft {
					a.printf("    %-8s %-22s voter=%s\n", s.ID, s.Addr, yn(s.Voter))
				}
			}
			return nil
		},
	}
}
