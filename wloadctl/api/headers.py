"""Trailing metadata the replicas attach to their answers (shared with the client, which must not
import the server's modules)."""

FORWARDED_HEADER = "x-wloadctl-forwarded"
# On redirects: the leader's API address.
LEADER_HEADER = "x-wloadctl-leader"
# On every answer a replica gives: its node id, so a client that gives up can tell "answered, but
# could not help" from "could not be reached" (an error without it came from the transport).
REPLICA_HEADER = "x-wloadctl-replica"
# On "no leader" answers: "SEEN/MEMBERS", the members the replica is connected to (itself included).
SEES_HEADER = "x-wloadctl-sees"
