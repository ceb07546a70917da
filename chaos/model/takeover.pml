/*
 * WLOADCTL takeover, fencing and leases: a Promela model of the protocol as
 * implemented (docs/takeover.md; alignment table in docs/reliability.md).
 *
 *   wloadctl/control/controller.py   replicas: phases, inquiry, quorum, dispatch, acks, lost detection
 *   wloadctl/agent/process.py        agents: highest epoch, _from_leader, _on_inquiry, lease, orphan kill
 *   wloadctl/state/runs.py           replicated state: BeginEpoch, DispatchRuns, MarkAgentLost re-checks
 *   wloadctl/agent/durable.py        agents: durable (run, attempt) dedupe and highest epoch
 *
 * Time: an Env step `tick` advances every timer by one abstract tick. Timers are
 * relative and saturating (silence counters, remaining lease, age of an in-flight
 * HeartbeatAck), so time is unbounded and the state space finite.
 *
 * Switches (-D):
 *   The two issues this model found in the implementation are fixed in the code, and the fixed
 *   behaviour is the model's default (docs/reliability.md, "Findings"); their old behaviour is kept
 *   as mutations that must still be caught:
 *     STALE_ACK       a replica acknowledges heartbeats on its phase alone (no check that it still
 *                     leads with a fresh majority): a woken, deposed leader renews leases
 *     NO_LEASE_CHECK  an agent starts an assignment without an unexpired lease, and "no lease yet"
 *                     does not count as expired for the orphan policy
 *   Mutations (each must give a violation):
 *     NO_FENCING              the agent accepts a leader message of any epoch
 *     DISPATCH_BEFORE_COMMIT  the assignment is sent before DispatchRuns commits
 *     EARLY_RETRY             lease_margin 0 and the agent's lease counted from the ack's receive time
 *     NO_QUORUM               a new leader activates without the agent quorum
 *   Configuration:
 *     LIVE            liveness: one stable leader, no loss, no crash, ltl `live` (pan -a -f)
 *     NRUN=2          two runs (default 1)
 *     MAXEP, MAXCRASH bounds on elections (default 2) and crashes (default 1)
 *     DUP             replica->agent messages may also be delivered twice
 *     REPLICA_CRASH   a leading replica may crash (its streams break) besides stepping down
 *     NOLOSS          the network loses no message (a send to a full channel still is lost)
 */

#ifndef NRUN
#define NRUN 1
#endif
#ifndef MAXEP
#ifdef LIVE
#define MAXEP 1
#else
#define MAXEP 2
#endif
#endif
#ifndef MAXCRASH
#ifdef LIVE
#define MAXCRASH 0
#else
#define MAXCRASH 1
#endif
#endif
#define NR 2            /* replicas that can lead */
#define NA 2            /* agents */
#define NONE 2          /* no replica */
#define LEASE 2         /* lease_seconds, in ticks */
#ifdef EARLY_RETRY
#define MARGIN 0        /* lease_margin_s = 0 (and the lease counted from the receive time, below) */
#else
#define MARGIN 1        /* lease_margin_s */
#endif
#define SIL 1           /* leader_silence_seconds */
#define MAXATT 2        /* job maxAttempts (lost policy retry) */
#ifdef LIVE
#define CAP 2           /* no loss: room for an ack next to an inquiry or an assignment */
#define HB_GUARD(i, a) empty(r2a[i*NA+a]) ->
#else
#define CAP 1           /* replica->agent channel capacity: a send to a full channel is lost */
#define HB_GUARD(i, a)
#endif

/* run states (runs_pb2.RunState); LOST is transient inside MarkAgentLost */
#define QUEUED 0
#define DISPATCHED 1
#define LOST 2
#define FAILED 3

/* replica phases (Controller.phase): begin_epoch is inside the atomic election, degraded behaves as
   inquiry (force-dispatch is not modelled), reconcile is inside the activation step */
#define FOL 0
#define INQ 1
#define ACT 2

mtype = { INQUIRY, ACK, DISPATCH, STEPDOWN };

/* replica i -> agent a: r2a[i*NA+a] = { kind, epoch, x, y }, every message with leader = true
     INQUIRY(e)             agent.proto Inquiry
     ACK(e, age)            HeartbeatAck: age = ticks since the acknowledged heartbeat was sent
     DISPATCH(e, run, att)  DispatchBatch / Assignment
     STEPDOWN(e)            StepDown
   agent -> replica messages (AgentHeartbeat, InquiryReply) are delivered at once or lost */
chan r2a[NR*NA] = [CAP] of { mtype, byte, byte, byte };

/* ---- replicated state (state/runs.py) */
byte epoch;                 /* EpochInfo.epoch */
byte rst[NRUN];             /* Run.state */
byte ratt[NRUN];            /* Run.attempt */
byte rag[NRUN];             /* Run.agent_id */
bit alost[NA];              /* Agent.lost_ms != 0 */

/* ---- replicas (controller.py) */
byte phase[NR];
byte repoch[NR];            /* Controller.epoch */
bit conf[NR*NA];            /* conn.confirmed_epoch == self.epoch */
byte sil[NR*NA];            /* ticks since max(conn.last_heard, takeover_started), saturating */

/* ---- agents (process.py, durable.py) */
byte highest[NA];           /* durable highest_epoch */
byte lrem[NA];              /* ticks until lease_expiry (0: expired) */
bit haslease[NA];           /* lease_expiry != 0 */
byte ldr[NA];               /* self.leader (NONE = None) */
bit lsil[NA];               /* self.leader silent for leader_silence_seconds */
byte accepted[NA];          /* durable (run, attempt) set: bit run*MAXATT+att-1 */
byte running[NA];           /* attempts executing: same bits */
byte executed;              /* ghost: every (run, attempt) that ever started */
byte crashes;

#define BIT(r, att) (1 << ((r) * MAXATT + (att) - 1))
#define RUNMASK(r) (((1 << MAXATT) - 1) << ((r) * MAXATT))
#define CAN_COMMIT(i) (repoch[i] == epoch && phase[i] != FOL)   /* the Raft leader of the current epoch */

inline send_r2a(s_i, s_a, s_k, s_e, s_x, s_y) {
  if
  :: nfull(r2a[s_i*NA+s_a]) -> r2a[s_i*NA+s_a]!s_k, s_e, s_x, s_y
  :: full(r2a[s_i*NA+s_a]) -> skip      /* lost */
  fi
}

inline flush(f_c) {
  do :: nempty(r2a[f_c]) -> r2a[f_c]?_, _, _, _ :: empty(r2a[f_c]) -> break od
}

/* ---------------------------------------------------------------- replicas: on_message */

/* Controller.on_message(heartbeat): any phase; acks only when leading the agent's epoch */
inline on_heartbeat(h_i, h_a) {
  sil[h_i*NA+h_a] = 0;
#ifndef STALE_ACK
  if :: phase[h_i] != FOL && highest[h_a] == repoch[h_i] && repoch[h_i] == epoch ->
        send_r2a(h_i, h_a, ACK, repoch[h_i], 0, 0)
#else
  if :: phase[h_i] != FOL && highest[h_a] == repoch[h_i] -> send_r2a(h_i, h_a, ACK, repoch[h_i], 0, 0)
#endif
  :: else
  fi
}

/* Controller.on_message(inquiry_reply, confirmed) */
inline on_reply(p_i, p_a, p_e) {
  sil[p_i*NA+p_a] = 0;
  if :: phase[p_i] != FOL && p_e == repoch[p_i] -> conf[p_i*NA+p_a] = 1 :: else fi
}

/* ---------------------------------------------------------------- environment */

inline elect(i) {           /* Raft elects i; its first command BeginEpoch(epoch + 1) commits */
  epoch++;
  repoch[i] = epoch;
  phase[i] = INQ;
  conf[i*NA] = 0; conf[i*NA+1] = 0;
  sil[i*NA] = 0; sil[i*NA+1] = 0        /* lost detection counts from the takeover at the earliest */
}

inline step_down(i) {       /* tick(): not leader any more -> StepDown(epoch) to every agent, follower */
  send_r2a(i, 0, STEPDOWN, repoch[i], 0, 0);
  send_r2a(i, 1, STEPDOWN, repoch[i], 0, 0);
  phase[i] = FOL; repoch[i] = 0;
  conf[i*NA] = 0; conf[i*NA+1] = 0
}

inline age_ack(g_c) {       /* an in-flight HeartbeatAck gets older */
  if
  :: r2a[g_c]?[ACK, _, _, _] ->
     r2a[g_c]?ACK, te, tx, _;
     if :: tx <= LEASE -> tx++ :: else fi;
     r2a[g_c]!ACK, te, tx, 0;
     te = 0; tx = 0
  :: else
  fi
}

inline tick() {
  tc = 0;
  do
  :: tc < NR*NA ->
     if :: sil[tc] <= LEASE + MARGIN -> sil[tc]++ :: else fi;
     age_ack(tc);
     tc++
  :: else -> break
  od;
  tc = 0;
  do
  :: tc < NA ->
     lsil[tc] = 1;
     if :: lrem[tc] > 0 -> lrem[tc]-- :: else fi;
     /* Agent._check_lease (at its next heartbeat): orphan policy kill */
#ifndef NO_LEASE_CHECK
     if :: running[tc] && lrem[tc] == 0 -> running[tc] = 0 :: else fi;
#else
     if :: running[tc] && haslease[tc] && lrem[tc] == 0 -> running[tc] = 0 :: else fi;
#endif
     tc++
  :: else -> break
  od;
  tc = 0
}

active proctype Env() {
  byte c, tc, te, tx;
end:
  do
  :: atomic { tick() }
#ifndef LIVE
  :: atomic { epoch < MAXEP && phase[0] == FOL -> elect(0) }
  :: atomic { epoch < MAXEP && phase[1] == FOL -> elect(1) }
     /* a leader learns it was deposed, or loses Raft leadership; until then it keeps acting (a pause) */
  :: atomic { phase[0] != FOL -> step_down(0) }
  :: atomic { phase[1] != FOL -> step_down(1) }
#ifdef REPLICA_CRASH
     /* replica crash + restart: local state and its streams are gone */
  :: atomic { crashes < MAXCRASH && phase[0] != FOL -> crashes++;
              flush(0); flush(1);
              phase[0] = FOL; repoch[0] = 0; conf[0] = 0; conf[1] = 0;
              if :: ldr[0] == 0 -> ldr[0] = NONE :: else fi;
              if :: ldr[1] == 0 -> ldr[1] = NONE :: else fi }
#endif
     /* agent crash + restart: orphan policy kill ends its runs; durable state survives */
  :: atomic { crashes < MAXCRASH -> crashes++;
              if :: c = 0 :: c = 1 fi;
              running[c] = 0; lrem[c] = 0; haslease[c] = 0; ldr[c] = NONE; lsil[c] = 0;
              flush(c); flush(NA + c);
              c = 0 }
#ifndef NOLOSS
     /* the network loses a replica -> agent message */
  :: atomic { nempty(r2a[0]) -> r2a[0]?_, _, _, _ }
  :: atomic { nempty(r2a[1]) -> r2a[1]?_, _, _, _ }
  :: atomic { nempty(r2a[2]) -> r2a[2]?_, _, _, _ }
  :: atomic { nempty(r2a[3]) -> r2a[3]?_, _, _, _ }
#endif
#endif
  od
}

/* ---------------------------------------------------------------- replicas: the controller tick */

inline quorum_reached(q_i, q_ok) {   /* Controller._quorum_reached with agent_quorum("majority") */
  nreg = (1 - alost[0]) + (1 - alost[1]);
  ncf = (conf[q_i*NA] && !alost[0]) + (conf[q_i*NA+1] && !alost[1]);
  q_ok = (nreg == 0 || ncf >= nreg / 2 + 1);
  nreg = 0; ncf = 0
}

proctype Ctl(byte i) {
  byte a, r, nreg, ncf;
#ifdef DISPATCH_BEFORE_COMMIT
  byte pr = NONE, pa;
#endif
  bool ok;
end:
  do
  :: atomic {
       phase[i] != FOL ->
       /* _register_agents: a confirmed agent (re)joins the pool (RegisterAgent clears lost_ms) */
       if :: CAN_COMMIT(i) && conf[i*NA] && alost[0] -> alost[0] = 0 :: else fi;
       if :: CAN_COMMIT(i) && conf[i*NA+1] && alost[1] -> alost[1] = 0 :: else fi;
       /* _inquire: agents not confirmed yet (in phase active too: they may re-join) */
       if :: !conf[i*NA] -> send_r2a(i, 0, INQUIRY, repoch[i], 0, 0) :: else fi;
       if :: !conf[i*NA+1] -> send_r2a(i, 1, INQUIRY, repoch[i], 0, 0) :: else fi;
       /* step 3: quorum -> reconcile -> active */
#ifdef NO_QUORUM
       ok = 1;                     /* activation without the agent quorum */
#else
       quorum_reached(i, ok);
#endif
       if
       :: phase[i] == INQ && ok ->
          /* (q) step 3: a majority of the registered agents has persisted this epoch (they refuse older ones) */
          nreg = (1 - alost[0]) + (1 - alost[1]);
          ncf = (!alost[0] && highest[0] >= repoch[i]) + (!alost[1] && highest[1] >= repoch[i]);
          assert(nreg == 0 || ncf >= nreg / 2 + 1);
          nreg = 0; ncf = 0;
          phase[i] = ACT
       :: else
       fi;
       ok = 0;
       /* _dispatch: commit DispatchRuns(epoch, run, attempt, agent), then send what was recorded */
       r = 0;
       do
       :: r < NRUN ->
          if
          :: phase[i] == ACT && rst[r] == QUEUED ->
             if
             :: conf[i*NA] && !alost[0] -> a = 0
             :: conf[i*NA+1] && !alost[1] -> a = 1
             :: else -> a = NONE
             fi;
             if
             :: a != NONE ->
#ifdef DISPATCH_BEFORE_COMMIT
                send_r2a(i, a, DISPATCH, repoch[i], r, ratt[r] + 1);
                pr = r; pa = a                /* DispatchRuns is proposed after the send (next step) */
#else
                if
                :: repoch[i] == epoch ->   /* apply: epoch current, run QUEUED, next attempt, agent not lost */
                   if :: ratt[r] > 0 -> assert(((running[0] | running[1]) & RUNMASK(r)) == 0) :: else fi; /* (d) */
                   ratt[r]++; rag[r] = a; rst[r] = DISPATCHED;
                   send_r2a(i, a, DISPATCH, repoch[i], r, ratt[r])
                :: else                    /* refused: a deposed leader's decision */
                fi
#endif
             :: else
             fi
          :: else
          fi;
          r++
       :: else -> break
       od;
       r = 0; a = 0;
       /* _detect_lost_agents: silent for more than lease + margin -> MarkAgentLost(epoch) */
       do
       :: a < NA ->
          if
          :: !alost[a] && sil[i*NA+a] > LEASE + MARGIN && CAN_COMMIT(i) ->
             alost[a] = 1;
             r = 0;
             do
             :: r < NRUN ->
                if
                :: rst[r] == DISPATCHED && rag[r] == a ->
                   rst[r] = LOST;
                   assert(((running[0] | running[1]) & RUNMASK(r)) == 0);   /* (d) */
                   if :: ratt[r] < MAXATT -> rst[r] = QUEUED :: else -> rst[r] = FAILED fi
                :: else
                fi;
                r++
             :: else -> break
             od;
             conf[i*NA+a] = 0              /* it must confirm again before it gets work */
          :: else
          fi;
          a++
       :: else -> break
       od;
       a = 0; r = 0;
#ifndef LIVE
       /* reconcile (step 4) and _send_kills_and_resends: re-send a dispatched attempt (agents dedupe) */
       if
       :: phase[i] == ACT && rst[0] == DISPATCHED -> send_r2a(i, rag[0], DISPATCH, repoch[i], 0, ratt[0])
#if NRUN > 1
       :: phase[i] == ACT && rst[1] == DISPATCHED -> send_r2a(i, rag[1], DISPATCH, repoch[i], 1, ratt[1])
#endif
       :: true
       fi
#endif
     }
#ifdef DISPATCH_BEFORE_COMMIT
     atomic {                      /* the commit, once the assignment is out: apply re-checks */
       if
       :: pr != NONE && repoch[i] == epoch && rst[pr] == QUEUED && !alost[pa] ->
          ratt[pr]++; rag[pr] = pa; rst[pr] = DISPATCHED
       :: else
       fi;
       pr = NONE; pa = 0
     }
#endif
  od
}

/* ---------------------------------------------------------------- agents */

/* Agent._from_leader */
#ifdef NO_FENCING
#define FROM_LEADER(a, e) (e > 0)
#else
#define FROM_LEADER(a, e) (e == highest[a] && e > 0)
#endif

/* Agent._heartbeats: a heartbeat to one replica (a heartbeat that is lost is one not taken) */
proctype AgentHb(byte a) {
end:
  do
  :: atomic { HB_GUARD(0, a) on_heartbeat(0, a) }
#ifndef LIVE
  :: atomic { on_heartbeat(1, a) }
#endif
  od
}

/* Agent._on_replica_message */
proctype AgentRx(byte a) {
  byte i, e, x, y;
  mtype k;
end:
  do
  :: atomic {
       if
       :: r2a[0*NA+a]?k, e, x, y -> i = 0
       :: r2a[1*NA+a]?k, e, x, y -> i = 1
#ifdef DUP
       :: r2a[0*NA+a]?<k, e, x, y> -> i = 0     /* delivered twice */
       :: r2a[1*NA+a]?<k, e, x, y> -> i = 1
#endif
       fi;
       if
       :: k == INQUIRY ->                            /* Agent._on_inquiry */
          if
          :: e < highest[a] -> skip                  /* RejectedMessage */
          :: e > highest[a] && ldr[a] != NONE && ldr[a] != i && !lsil[a] -> skip   /* confirmed=false */
          :: else ->
             if :: e > highest[a] -> highest[a] = e :: else fi;   /* adopt_epoch: synced before the reply */
             ldr[a] = i; lsil[a] = 0;
#ifdef LIVE
             on_reply(i, a, e)
#else
             if :: on_reply(i, a, e) :: skip fi      /* the reply may be lost */
#endif
          fi
       :: k == ACK ->
          if
          :: FROM_LEADER(a, e) ->
             ldr[a] = i; lsil[a] = 0;
#ifdef EARLY_RETRY
             lrem[a] = LEASE; haslease[a] = 1        /* counted from the receive time */
#else
             /* counted from the heartbeat's send time; a heartbeat older than the lease is forgotten */
             if :: x < LEASE && lrem[a] < LEASE - x -> lrem[a] = LEASE - x; haslease[a] = 1 :: else fi
#endif
          :: else
          fi
       :: k == DISPATCH ->
          if
          :: FROM_LEADER(a, e) ->
             ldr[a] = i; lsil[a] = 0;
             if
#ifndef NO_LEASE_CHECK
             :: lrem[a] == 0 -> skip                 /* no valid lease: refused, not recorded */
             :: lrem[a] > 0 && (accepted[a] & BIT(x, y)) == 0 ->
#else
             :: (accepted[a] & BIT(x, y)) == 0 ->    /* durable.accept: a new (run, attempt) -> _start */
#endif
                accepted[a] = accepted[a] | BIT(x, y);
                assert(e >= highest[a]);                              /* (a) */
                assert((executed & BIT(x, y)) == 0);                  /* (b) */
                assert((running[1 - a] & RUNMASK(x)) == 0);           /* (c) */
                executed = executed | BIT(x, y);
                running[a] = running[a] | BIT(x, y)
             :: (accepted[a] & BIT(x, y)) != 0 -> skip   /* seen before: never runs twice */
             fi
          :: else
          fi
       :: k == STEPDOWN ->
          if
          :: e < highest[a] -> skip
          :: else -> if :: ldr[a] == i -> ldr[a] = NONE; lsil[a] = 1 :: else fi
          fi
       fi;
       i = 0; e = 0; x = 0; y = 0; k = 0
     }
  od
}

init {
  atomic {
    ldr[0] = NONE; ldr[1] = NONE;
#ifdef LIVE
    elect(0);                       /* the stable leader (replica 1 never leads) */
#endif
    run Ctl(0); run Ctl(1);
    run AgentHb(0); run AgentHb(1);
    run AgentRx(0); run AgentRx(1)
  }
}

#ifdef LIVE
/* (e) with a stable leader and every agent reachable, a queued run is eventually dispatched: a run leaves
   QUEUED only through a committed DispatchRuns (a lost-and-retried attempt may be dispatched and marked LOST
   inside one controller tick, so the claim may never observe DISPATCHED itself) */
ltl live { [] ((rst[0] == QUEUED) -> <> (rst[0] != QUEUED)) }
#endif
