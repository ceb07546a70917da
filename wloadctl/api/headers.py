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
# On a write that a four-eyes policy holds: the id of the approval it waits for (a42).
APPROVAL_HEADER = "x-wloadctl-approval"
# A call one replica makes to another for itself (not for a client): "NODE|MAC", where MAC is an
# HMAC of the node id under the cluster secret (api/authn.py).
REPLICA_AUTH_HEADER = "x-wloadctl-replica-auth"
# On every successful answer: the Raft index the answer reflects (a write: at least its own entry's;
# a read: what the replica had applied when it answered).
INDEX_HEADER = "x-wloadctl-index"
# On a request: answer only once this replica has applied at least this index (read-your-writes on
# any replica: the client sends the highest index it has seen).
MIN_INDEX_HEADER = "x-wloadctl-min-index"
# A request signed with a webhook signing key, checked by the replica that received it over HTTP
# (server/http.py): "NODE|hmac:KEY_ID:UNTIL_MS|MAC", the MAC under the cluster secret (api/authn.py).
WEBHOOK_HEADER = "x-wloadctl-webhook"
# On a read: "linearizable" (the default) or "stale" (this replica's copy at once, no ReadIndex).
CONSISTENCY_HEADER = "x-wloadctl-consistency"
