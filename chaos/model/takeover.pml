/*
 * WLOADCTL takeover, fencing and leases: a Promela model of the protocol as
 * implemented (docs/takeover.md, docs/reliability.md).
 *
 *   wloadctl/control/controller.py   replicas: phases, inquiry, quorum, dispatch, acks, lost detection
 *   wloadctl/agent/process.py        agents: highest epoch, _from_leader, _on_inquiry, lease, orphan kill
 *   wloadctl/state/runs.py           replicated state: BeginEpoch, DispatchRuns, MarkAgentLost re-checks
 *   wloadctl/agent/durable.py        agents: durable (run, attempt) dedupe and highest epoch
 *
 * Time is a global tick counter `now` (0..TMAX). Every time stamp is absolute.
 *
 * Switches (-D):
 *   Fixes of the issues this model found (see docs/reliability.md, "Findings"):
 *     FIX_STALE_ACK   a replica acknowledges a heartbeat only while its epoch is still the committed one
 *                     (abstracts a leader-lease / read-index check before HeartbeatAck)
 *     FIX_NO_LEASE    an agent starts an assignment only while it holds an unexpired lease, and a lease of
 *                     0 ("no ack yet") counts as expired
 *   Mutations (each must produce a violation on top of the fixes):
 *     NO_FENCING, DISPATCH_BEFORE_COMMIT, EARLY_RETRY, NO_QUORUM
 *   Configurations:
 *     LIVE            liveness configuration: one stable leader, no loss, no crash (ltl `live`)
 *     NRUN=2          two runs (default 1)
 */

#ifndef NRUN
#define NRUN 1
#endif
#ifndef TMAX
#define TMAX 7
#endif
#ifndef MAXEP
#ifdef LIVE
#define MAXEP 1
#else
#define MAXEP 2
#endif
#endif
#ifndef MAXCRASH
#define MAXCRASH 1
#endif
#define NR 2            /* replicas that can lead */
#define NA 2            /* agents */
#define NONE 2          /* no replica */
#define LEASE 2         /* agent lease, ticks */
#ifdef EARLY_RETRY
#define MARGIN 0        /* lease_margin_seconds = 0 ... */
#else
#define MARGIN 1        /* lease_margin_seconds */
#endif
#define SIL 1           /* leader_silence_seconds */
#define MAXATT 2        /* job maxAttempts */
#define CAP 1           /* channel capacity: a send to a full channel is lost */

/* run states (runs_pb2.RunState); LOST is transient inside MarkAgentLost */
#define QUEUED 0
#define DISPATCHED 1
#define LOST 2
#define FAILED 3

/* replica phases (Controller.phase); begin_epoch is inside the atomic election, degraded == inquiry,
   reconcile is inside the activation step */
#define FOL 0
#define INQ 1
#define ACT 2

mtype = { INQUIRY, ACK, DISPATCH, STEPDOWN, HB, REPLY };

/* replica i -> agent a: r2a[i*NA+a] = { kind, epoch, leader flag, x, y }
     INQUIRY(e)            agent.proto Inquiry
     ACK(e, sent)          HeartbeatAck (carries the heartbeat's send time instead of its seq)
     DISPATCH(e, run, att) DispatchBatch/Assignment
     STEPDOWN(e)           StepDown
   agent a -> replica i: a2r[a*NR+i] = { kind, epoch, time }
     HB(highest, sent)     AgentHeartbeat
     REPLY(e)              InquiryReply(confirmed=true) */
chan r2a[NR*NA] = [CAP] of { mtype, byte, bit, byte, byte };
chan a2r[NA*NR] = [CAP] of { mtype, byte, byte };

byte now;

/* ---- replicated state (state/runs.py) */
byte epoch;                 /* EpochInfo.epoch */
byte rst[NRUN];             /* run state */
byte ratt[NRUN];            /* run attempt */
byte rag[NRUN];             /* run agent */
bit alost[NA];              /* Agent.lost_ms != 0 */

/* ---- replicas (controller.py) */
byte phase[NR];
byte repoch[NR];
bit conf[NR*NA];            /* conn.confirmed_epoch == self.epoch */
byte heard[NR*NA];          /* max(conn.last_heard, takeover_started) */

/* ---- agents (process.py, durable.py) */
byte highest[NA];           /* durable highest_epoch */
byte lease[NA];             /* lease_expiry, 0 = no lease yet */
byte ldr[NA];               /* self.leader */
byte lastlm[NA];            /* self.leader.last_leader_msg */
byte accepted[NA];          /* durable (run, attempt) set: bit run*MAXATT+att-1 */
byte running[NA];           /* executing (run, attempt): same bits */
byte executed;              /* ghost: every (run, attempt) that ever started */
byte crashes;

#define BIT(r, att) (1 << ((r) * MAXATT + (att) - 1))
#define RUNMASK(r) (((1 << MAXATT) - 1) << ((r) * MAXATT))
#define CAN_COMMIT(i) (repoch[i] == epoch && phase[i] != FOL)

inline send_r2a(i, a, k, e, l, x, y) {
  if
  :: nfull(r2a[i*NA+a]) -> r2a[i*NA+a]!k, e, l, x, y
  :: full(r2a[i*NA+a]) -> skip       /* lost */
  fi
}

inline send_a2r(a, i, k, e, t) {
  if
  :: nfull(a2r[a*NR+i]) -> a2r[a*NR+i]!k, e, t
  :: full(a2r[a*NR+i]) -> skip
  fi
}

inline flush_links(i) {   /* streams of replica i break: what is in flight is lost */
  byte fa = 0;
  do
  :: fa < NA ->
     do :: nempty(r2a[i*NA+fa]) -> r2a[i*NA+fa]?_, _, _, _, _ :: empty(r2a[i*NA+fa]) -> break od;
     do :: nempty(a2r[fa*NR+i]) -> a2r[fa*NR+i]?_, _, _ :: empty(a2r[fa*NR+i]) -> break od;
     fa++
  :: else -> break
  od;
  fa = 0
}

/* ---------------------------------------------------------------- environment */

inline elect(i) {           /* Raft elects i; its first command BeginEpoch(epoch+1) commits */
  epoch++;
  repoch[i] = epoch;
  phase[i] = INQ;
  conf[i*NA] = 0; conf[i*NA+1] = 0;
  heard[i*NA] = now; heard[i*NA+1] = now   /* lost detection counts from the takeover at the earliest */
}

inline step_down(i) {       /* tick(): not leader any more -> StepDown(epoch) to every agent, follower */
  send_r2a(i, 0, STEPDOWN, repoch[i], 1, 0, 0);
  send_r2a(i, 1, STEPDOWN, repoch[i], 1, 0, 0);
  phase[i] = FOL; repoch[i] = 0;
  conf[i*NA] = 0; conf[i*NA+1] = 0
}

inline tick() {             /* time passes; agents apply the orphan policy at their heartbeat */
  now++;
  byte ka = 0;
  do
  :: ka < NA ->
#ifdef FIX_NO_LEASE
     if :: running[ka] && now >= lease[ka] -> running[ka] = 0 :: else fi;
#else
     if :: running[ka] && lease[ka] != 0 && now >= lease[ka] -> running[ka] = 0 :: else fi;
#endif
     ka++
  :: else -> break
  od;
  ka = 0
}

active proctype Env() {
  byte c;
end:
  do
  :: atomic { now < TMAX -> tick() }
#ifdef LIVE
  :: atomic { epoch < MAXEP && phase[0] == FOL -> elect(0) }
#else
  :: atomic { epoch < MAXEP && phase[0] == FOL -> elect(0) }
  :: atomic { epoch < MAXEP && phase[1] == FOL -> elect(1) }
     /* a leader learns it was deposed, or loses Raft leadership; until then it keeps acting (a pause) */
  :: atomic { phase[0] != FOL -> step_down(0) }
  :: atomic { phase[1] != FOL -> step_down(1) }
#ifdef REPLICA_CRASH
     /* replica crash + restart: local state and its streams are gone */
  :: atomic { crashes < MAXCRASH && phase[0] != FOL -> crashes++; flush_links(0);
              phase[0] = FOL; repoch[0] = 0; conf[0] = 0; conf[1] = 0;
              if :: ldr[0] == 0 -> ldr[0] = NONE :: else fi;
              if :: ldr[1] == 0 -> ldr[1] = NONE :: else fi }
#endif
     /* agent crash + restart: orphan policy kill ends its runs; durable state survives */
  :: atomic { crashes < MAXCRASH -> crashes++;
              if :: c = 0 :: c = 1 fi;
              running[c] = 0; lease[c] = 0; ldr[c] = NONE; lastlm[c] = 0;
              do :: nempty(r2a[c]) -> r2a[c]?_, _, _, _, _ :: empty(r2a[c]) -> break od;
              do :: nempty(r2a[NA+c]) -> r2a[NA+c]?_, _, _, _, _ :: empty(r2a[NA+c]) -> break od;
              do :: nempty(a2r[c*NR]) -> a2r[c*NR]?_, _, _ :: empty(a2r[c*NR]) -> break od;
              do :: nempty(a2r[c*NR+1]) -> a2r[c*NR+1]?_, _, _ :: empty(a2r[c*NR+1]) -> break od;
              c = 0 }
     /* the network loses a message */
  :: atomic { nempty(r2a[0]) -> r2a[0]?_, _, _, _, _ }
  :: atomic { nempty(r2a[1]) -> r2a[1]?_, _, _, _, _ }
  :: atomic { nempty(r2a[2]) -> r2a[2]?_, _, _, _, _ }
  :: atomic { nempty(r2a[3]) -> r2a[3]?_, _, _, _, _ }
  :: atomic { nempty(a2r[0]) -> a2r[0]?_, _, _ }
  :: atomic { nempty(a2r[1]) -> a2r[1]?_, _, _ }
  :: atomic { nempty(a2r[2]) -> a2r[2]?_, _, _ }
  :: atomic { nempty(a2r[3]) -> a2r[3]?_, _, _ }
#endif
  od
}

/* ---------------------------------------------------------------- replicas */

/* Controller.on_message: runs whatever the phase (the asyncio stream handlers) */
proctype ReplicaRx(byte i) {
  byte a, e, t;
end:
  do
  :: atomic {
       if
       :: a2r[0*NR+i]?HB, e, t -> a = 0
       :: a2r[1*NR+i]?HB, e, t -> a = 1
       fi;
       heard[i*NA+a] = now;
       /* only the active leader's epoch renews a lease */
#ifdef FIX_STALE_ACK
       if :: phase[i] != FOL && e == repoch[i] && repoch[i] == epoch -> send_r2a(i, a, ACK, repoch[i], 1, t, 0)
#else
       if :: phase[i] != FOL && e == repoch[i] -> send_r2a(i, a, ACK, repoch[i], 1, t, 0)
#endif
       :: else
       fi;
       a = 0; e = 0; t = 0 }
  :: atomic {
       if
       :: a2r[0*NR+i]?REPLY, e, t -> a = 0
       :: a2r[1*NR+i]?REPLY, e, t -> a = 1
       fi;
       heard[i*NA+a] = now;
       if :: phase[i] != FOL && e == repoch[i] -> conf[i*NA+a] = 1 :: else fi;
       a = 0; e = 0; t = 0 }
  od
}

inline quorum_reached(i, ok) {   /* Controller._quorum_reached, agent_quorum("majority") */
  byte nreg = (1 - alost[0]) + (1 - alost[1]);
  byte ncf = (conf[i*NA] && !alost[0]) + (conf[i*NA+1] && !alost[1]);
  ok = (nreg == 0 || ncf >= nreg / 2 + 1);
  nreg = 0; ncf = 0
}

/* Controller.tick once the replica leads */
proctype Ctl(byte i) {
  byte a, r;
  bool ok;
end:
  do
  :: atomic {
       phase[i] != FOL ->
       /* _register_agents: confirmed agents (re)join the pool (RegisterAgent clears lost_ms) */
       if :: CAN_COMMIT(i) && conf[i*NA] && alost[0] -> alost[0] = 0 :: else fi;
       if :: CAN_COMMIT(i) && conf[i*NA+1] && alost[1] -> alost[1] = 0 :: else fi;
       /* _inquire: agents not confirmed yet (also in phase active: they may re-join) */
       if :: !conf[i*NA] -> send_r2a(i, 0, INQUIRY, repoch[i], 1, repoch[i], 0) :: else fi;
       if :: !conf[i*NA+1] -> send_r2a(i, 1, INQUIRY, repoch[i], 1, repoch[i], 0) :: else fi;
       /* step 3: quorum -> reconcile -> active */
#ifdef NO_QUORUM
       if :: phase[i] == INQ -> phase[i] = ACT :: else fi;
#else
       quorum_reached(i, ok);
       if :: phase[i] == INQ && ok -> phase[i] = ACT :: else fi;
       ok = 0;
#endif
       /* _dispatch: commit DispatchRuns, then send what the state recorded */
       r = 0;
       do
       :: r < NRUN ->
          if
          :: phase[i] == ACT && rst[r] == QUEUED && ratt[r] < MAXATT ->
             if
             :: conf[i*NA] && !alost[0] -> a = 0
             :: conf[i*NA+1] && !alost[1] -> a = 1
             :: else -> a = NONE
             fi;
             if
             :: a != NONE ->
#ifdef DISPATCH_BEFORE_COMMIT
                send_r2a(i, a, DISPATCH, repoch[i], 1, r, ratt[r] + 1);
#endif
                if
                :: repoch[i] == epoch && !alost[a] ->     /* apply: epoch current, QUEUED, next attempt */
                   if :: ratt[r] > 0 -> assert(((running[0] | running[1]) & RUNMASK(r)) == 0) :: else fi;  /* (d) */
                   ratt[r]++; rag[r] = a; rst[r] = DISPATCHED;
#ifndef DISPATCH_BEFORE_COMMIT
                   send_r2a(i, a, DISPATCH, repoch[i], 1, r, ratt[r]);
#endif
                :: else                                   /* refused: a deposed leader's decision */
                fi
             :: else
             fi
          :: else
          fi;
          r++
       :: else -> break
       od;
       r = 0; a = 0;
       /* _detect_lost_agents: silent for more than lease + margin -> MarkAgentLost(epoch) */
       a = 0;
       do
       :: a < NA ->
          if
          :: phase[i] != FOL && !alost[a] && now - heard[i*NA+a] > LEASE + MARGIN && CAN_COMMIT(i) ->
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
             conf[i*NA+a] = 0            /* it must confirm again before it gets work */
          :: else
          fi;
          a++
       :: else -> break
       od;
       a = 0; r = 0;
#ifndef LIVE
       /* reconcile (step 4) and _send_kills_and_resends: re-send a dispatched attempt (agents dedupe) */
       if
       :: phase[i] == ACT && rst[0] == DISPATCHED -> send_r2a(i, rag[0], DISPATCH, repoch[i], 1, 0, ratt[0])
#if NRUN > 1
       :: phase[i] == ACT && rst[1] == DISPATCHED -> send_r2a(i, rag[1], DISPATCH, repoch[i], 1, 1, ratt[1])
#endif
       :: true
       fi
#endif
     }
  od
}

/* ---------------------------------------------------------------- agents */

/* Agent._from_leader */
#ifdef NO_FENCING
#define FROM_LEADER(a, e, l) (l && e > 0)
#else
#define FROM_LEADER(a, e, l) (l && e == highest[a] && e > 0)
#endif

/* Agent._heartbeats: one heartbeat to one replica per step */
proctype AgentHb(byte a) {
end:
  do
  :: atomic { send_a2r(a, 0, HB, highest[a], now) }
  :: atomic { send_a2r(a, 1, HB, highest[a], now) }
  od
}

/* Agent._on_replica_message */
proctype AgentRx(byte a) {
  byte i, e, x, y;
  bit l;
  mtype k;
end:
  do
  :: atomic {
       if
       :: r2a[0*NA+a]?k, e, l, x, y -> i = 0
       :: r2a[1*NA+a]?k, e, l, x, y -> i = 1
#ifdef DUP
       :: r2a[0*NA+a]?<k, e, l, x, y> -> i = 0     /* duplicated delivery */
       :: r2a[1*NA+a]?<k, e, l, x, y> -> i = 1
#endif
       fi;
       if
       :: k == INQUIRY ->                          /* Agent._on_inquiry */
          if
          :: e < highest[a] -> skip                /* RejectedMessage */
          :: e > highest[a] && ldr[a] != NONE && ldr[a] != i && now - lastlm[a] < SIL -> skip  /* not confirmed */
          :: else ->
             if :: e > highest[a] -> highest[a] = e :: else fi;   /* adopt_epoch, synced before the reply */
             ldr[a] = i; lastlm[a] = now;
             send_a2r(a, i, REPLY, e, 0)
          fi
       :: k == ACK ->
          if
          :: FROM_LEADER(a, e, l) ->
             ldr[a] = i; lastlm[a] = now;
#ifdef EARLY_RETRY
             if :: lease[a] < now + LEASE -> lease[a] = now + LEASE :: else fi   /* counted from receive time */
#else
             if :: now - x <= LEASE && lease[a] < x + LEASE -> lease[a] = x + LEASE :: else fi  /* from send time */
#endif
          :: else
          fi
       :: k == DISPATCH ->
          if
          :: FROM_LEADER(a, e, l) ->
             ldr[a] = i; lastlm[a] = now;
             if
#ifdef FIX_NO_LEASE
             :: now >= lease[a] -> skip            /* no valid lease: refused, not recorded */
#endif
             :: (accepted[a] & BIT(x, y)) == 0 ->  /* durable.accept: new (run, attempt) -> _start */
                accepted[a] = accepted[a] | BIT(x, y);
                assert(e >= highest[a]);                                         /* (a) */
                assert((executed & BIT(x, y)) == 0);                             /* (b) */
                assert((running[1 - a] & RUNMASK(x)) == 0);                      /* (c) */
                executed = executed | BIT(x, y);
                running[a] = running[a] | BIT(x, y)
             :: else -> skip                       /* seen before: never runs twice */
             fi
          :: else
          fi
       :: k == STEPDOWN ->
          if
          :: e < highest[a] -> skip
          :: else -> if :: ldr[a] == i -> ldr[a] = NONE; lastlm[a] = 0 :: else fi
          fi
       fi;
       i = 0; e = 0; l = 0; x = 0; y = 0; k = 0
     }
  od
}

init {
  atomic {
    run ReplicaRx(0); run ReplicaRx(1);
    run Ctl(0); run Ctl(1);
    run AgentHb(0); run AgentHb(1);
    run AgentRx(0); run AgentRx(1);
    ldr[0] = NONE; ldr[1] = NONE
  }
}

#ifdef LIVE
/* (e) with a stable leader and every agent reachable, a queued run is eventually dispatched */
ltl live { [] ((rst[0] == QUEUED) -> <> (rst[0] == DISPATCHED)) }
#endif
