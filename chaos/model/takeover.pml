/*
 * WLOADCTL takeover, fencing and leases: a Promela model of the protocol as
 * implemented (docs/takeover.md; alignment table in docs/reliability.md).
 *
 *   wloadctl/control/controller.py   replicas: phases, inquiry, quorum, dispatch, acks, lost detection,
 *                                    _record_events and EventAck, re-sends
 *   wloadctl/agent/process.py        agents: highest epoch, _from_leader, _on_inquiry, lease, orphan kill,
 *                                    _start (REJECTED), attempts ending (FINISHED), _account_for (lost)
 *   wloadctl/state/runs.py           replicated state: BeginEpoch, DispatchRuns, MarkAgentLost re-checks,
 *                                    RecordRunEvents (FINISHED, REJECTED, FINISHED lost -> _lose)
 *   wloadctl/agent/durable.py        agents: durable (run, attempt) dedupe, highest epoch, unacked results
 *
 * Time: an Env step `tick` advances every timer by one abstract tick. Timers are
 * relative and saturating (silence counters, remaining lease, age of an in-flight
 * HeartbeatAck), so time is unbounded and the state space finite.
 *
 * Steps: every protocol step (a controller tick, an agent handling one message, an attempt ending,
 * a timer tick, an election, a crash, a loss) is one d_step, preceded by one transition for each
 * nondeterministic choice it makes; pan's -m bound counts these transitions.
 *
 * Properties: (a)-(d), (q) asserted where they can fail; (s) no run stuck, by the process Monitor;
 * (e) ltl `live` with LIVE (docs/reliability.md, "Properties").
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
 *     NO_ACCOUNT_FOR          a re-sent attempt the agent accepted before is ignored (no _account_for):
 *                             an attempt lost in an agent's restart is never reported
 *     ACCEPT_AFTER_CHECKS     durable.accept after _start's lease and slot checks: a rejected attempt
 *                             is not recorded, and a later re-send of it may start it
 *   Configuration:
 *     LIVE            liveness: one stable leader, no loss, no crash, ltl `live` (pan -a -f)
 *     NRUN=2          two runs (default 1)
 *     MAXEP, MAXCRASH bounds on elections (default 2) and crashes (default 1); the crash between
 *                     recording an attempt and syncing its REJECTED uses the same budget
 *     NATT=n          attempts dispatched per run (default MAXATT = 2, the job's maxAttempts): REJECTED
 *                     re-queues a run with the next attempt number whatever maxAttempts says, so the code
 *                     has no bound; NRUN * NATT <= 8
 *     MAXLOSS=n       at most n message losses (network drops, lost inquiry replies, lost EventAcks);
 *                     unbounded without it
 *     DUP             replica->agent messages may also be delivered twice
 *     REPLICA_CRASH   a leading replica may crash (its streams break) besides stepping down
 *     NOLOSS          the network loses no message (a send to a full channel still is lost)
 *     WITNESS=n       assert(false) at one event, to show that a bounded search reaches it (check.py
 *                     reach-* runs): 1 REJECTED re-queues a run, 2 a lost report of an attempt whose
 *                     REJECTED the agent's crash lost, 3 FINISHED ends a run, 4 MarkAgentLost takes a
 *                     dispatched run back, 5 the leader of epoch MAXEP activates, 6 attempt NATT starts,
 *                     7 as 2 on attempt MAXATT (the run ends FAILED though no attempt executed)
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
#ifndef NATT
#define NATT MAXATT     /* attempts the model dispatches per run (width of the (run, attempt) bitmasks):
                           REJECTED re-queues without the lost policy's limit, so the code has no bound */
#endif
#if NRUN * NATT > 8
#error "NRUN * NATT bits must fit the byte bitmasks"
#endif
#ifdef LIVE
#define CAP 2           /* no loss: room for an ack next to an inquiry or an assignment */
#define HB_GUARD(i, a) (empty(r2a[i*NA+a]) && phase[i] != FOL)
#else
#define CAP 1           /* replica->agent channel capacity: a send to a full channel is lost */
#define HB_GUARD(i, a) (phase[i] != FOL)
#endif

/* run states (runs_pb2.RunState); LOST is transient inside MarkAgentLost */
#define QUEUED 0
#define DISPATCHED 1
#define LOST 2
#define FAILED 3
#define DONE 4          /* final from a FINISHED report: SUCCEEDED, FAILED, TIMED_OUT or KILLED (orphan kill) */

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
   agent -> replica messages (AgentHeartbeat, InquiryReply) are delivered at once or lost; results
   (EventBatch: FINISHED, REJECTED, FINISHED lost) stay in the agent's durable unacked list (pfin, prej,
   plst) until an EventAck, and the replica the agent follows commits them in its tick (record_events) */
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
byte ldr[NA] = NONE;        /* self.leader (NONE = None) */
bit lsil[NA];               /* self.leader silent for leader_silence_seconds */
byte accepted[NA];          /* durable (run, attempt) set: bit run*NATT+att-1 */
byte running[NA];           /* attempts executing: same bits */
byte done[NA];              /* Agent._finished: ended or accounted for in this process (lost at a crash) */
byte pfin[NA];              /* durable unacked FINISHED (ended, or killed by the orphan policy): same bits */
byte prej[NA];              /* durable unacked REJECTED ("no valid lease", "no free slot") */
byte plst[NA];              /* durable unacked FINISHED lost=true (_account_for after a restart) */
byte executed;              /* ghost: every (run, attempt) that ever started */
byte crashes;
#ifdef MAXLOSS
byte losses;                /* message losses so far: network drops, lost inquiry replies, lost event acks */
#define LOSS (losses < MAXLOSS)
#define LOST_ONE losses++
#else
#define LOSS true
#define LOST_ONE skip
#endif
#ifdef WITNESS
byte rejcrash;              /* ghost: (run, attempt) whose REJECTED the agent's crash lost */
#endif

#define BIT(r, att) (1 << ((r) * NATT + (att) - 1))
#define RUNMASK(r) (((1 << NATT) - 1) << ((r) * NATT))
#define PENDING(a) (pfin[a] | prej[a] | plst[a])
/* a re-sent (run, attempt) the agent accepted before makes it report the attempt (lost), by _account_for */
#ifdef NO_ACCOUNT_FOR
#define REPORTS(a, b) false
#else
#define REPORTS(a, b) ((done[a] & (b)) == 0)
#endif
/* (s) a run is stuck: the state has it DISPATCHED on agent a, which accepted the attempt, does not run it,
   holds no result of it to report and would report nothing if it were re-sent: only the agent's loss
   (silence) or restart would ever move the run again */
#define STUCK_ON(r, a, b) (rst[r] == DISPATCHED && (accepted[a] & (b)) != 0 && \
                           ((running[a] | PENDING(a)) & (b)) == 0 && !REPORTS(a, b))
#define STUCK(r) (ratt[r] > 0 && STUCK_ON(r, rag[r], BIT(r, ratt[r])))
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
  conf[i*NA] = 0; conf[i*NA+1] = 0;
  sil[i*NA] = 0; sil[i*NA+1] = 0        /* a follower counts no silence (reset at its next election) */
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

/* agent crash + restart: orphan policy kill ends its runs (nothing reported: the process is gone), events
   not synced yet are lost; durable state (highest epoch, (run, attempt) set, unacked results) survives */
inline crash_agent(k_c) {
  flush(k_c); flush(NA + k_c);
  crashes++;
  running[k_c] = 0; done[k_c] = 0; lrem[k_c] = 0; haslease[k_c] = 0; ldr[k_c] = NONE; lsil[k_c] = 0
}

inline tick() {
  tc = 0;
  do
  :: tc < NR*NA ->
     if :: sil[tc] <= LEASE + MARGIN && phase[tc / NA] != FOL -> sil[tc]++ :: else fi;
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
     /* (the killed attempts end: FINISHED orphaned=true, synced into the unacked list) */
#ifndef NO_LEASE_CHECK
     if :: running[tc] && lrem[tc] == 0 ->
#else
     if :: running[tc] && haslease[tc] && lrem[tc] == 0 ->
#endif
           done[tc] = done[tc] | running[tc]; pfin[tc] = pfin[tc] | running[tc]; running[tc] = 0
     :: else
     fi;
     tc++
  :: else -> break
  od;
  tc = 0
}

active proctype Env() {
  byte tc, te, tx;
#ifdef LIVE
  d_step { elect(0) };              /* the stable leader (replica 1 never leads) */
#endif
end:
  do
  :: d_step { tick() }
#ifndef LIVE
  :: d_step { epoch < MAXEP && phase[0] == FOL -> elect(0) }
  :: d_step { epoch < MAXEP && phase[1] == FOL -> elect(1) }
     /* a leader learns it was deposed, or loses Raft leadership; until then it keeps acting (a pause) */
  :: d_step { phase[0] != FOL -> step_down(0) }
  :: d_step { phase[1] != FOL -> step_down(1) }
#ifdef REPLICA_CRASH
     /* replica crash + restart: local state and its streams are gone */
  :: d_step { crashes < MAXCRASH && phase[0] != FOL -> crashes++;
              flush(0); flush(1);
              phase[0] = FOL; repoch[0] = 0; conf[0] = 0; conf[1] = 0; sil[0] = 0; sil[1] = 0;
              if :: ldr[0] == 0 -> ldr[0] = NONE :: else fi;
              if :: ldr[1] == 0 -> ldr[1] = NONE :: else fi }
#endif
     /* agent crash + restart */
  :: d_step { crashes < MAXCRASH -> crash_agent(0) }
  :: d_step { crashes < MAXCRASH -> crash_agent(1) }
#ifndef NOLOSS
     /* the network loses a replica -> agent message */
  :: d_step { LOSS && nempty(r2a[0]) -> r2a[0]?_, _, _, _; LOST_ONE }
  :: d_step { LOSS && nempty(r2a[1]) -> r2a[1]?_, _, _, _; LOST_ONE }
  :: d_step { LOSS && nempty(r2a[2]) -> r2a[2]?_, _, _, _; LOST_ONE }
  :: d_step { LOSS && nempty(r2a[3]) -> r2a[3]?_, _, _, _; LOST_ONE }
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

/* a confirmed agent that gets work (after _register_agents, which clears lost_ms of a confirmed agent) */
#define ELIG(i, a) (conf[i*NA+a] && (!alost[a] || CAN_COMMIT(i)))
#define WANTS(i, r) (phase[i] != FOL && rst[r] == QUEUED && ratt[r] < NATT && ELIG(i, 0) && ELIG(i, 1))
/* results of agent a this step records (if they are here), and whether the agent would take its EventAck */
#define RECS(i, a) (ldr[a] == i && CAN_COMMIT(i) && PENDING(a) != 0)
#define ACKS(i, a) (RECS(i, a) && repoch[i] == highest[a])
#define RESENDS(r) (rst[r] == QUEUED || rst[r] == DISPATCHED)

/* Controller._record_events: RecordRunEvents(agent, events) for the results an agent sent to this replica (its
   leader link: events, unacked resends, the inquiry report). No epoch check at apply: each event counts only for
   the run's current attempt on the same agent (a late report is merely recorded), so only the Raft leader's
   commit matters here. Then EventAck, which the agent takes only from the leader of the epoch it holds.
   ev0, ev1 (per agent): 0 recorded and acknowledged; 1 recorded, the EventAck lost (the agent reports the
   same results again: applied twice); 2 not here yet (in flight: recorded at a later tick, if ever). */
inline record_events(v_i) {
  a = 0;
  do
  :: a < NA ->
     if
     :: RECS(v_i, a) && (a == 0 -> ev0 : ev1) != 2 ->
        r = 0;
        do
        :: r < NRUN ->
           if
           :: rst[r] == DISPATCHED && rag[r] == a && (PENDING(a) & BIT(r, ratt[r])) != 0 ->
              if
              :: (pfin[a] & BIT(r, ratt[r])) != 0 ->
#ifdef WITNESS
                 assert(WITNESS != 3);
#endif
                 rst[r] = DONE                                            /* FINISHED: final */
              :: (pfin[a] & BIT(r, ratt[r])) == 0 && (plst[a] & BIT(r, ratt[r])) != 0 ->
#ifdef WITNESS
                 assert(WITNESS != 2 || (rejcrash & BIT(r, ratt[r])) == 0);
                 assert(WITNESS != 7 || (rejcrash & BIT(r, ratt[r])) == 0 || ratt[r] < MAXATT);
#endif
                 rst[r] = LOST;                                           /* FINISHED lost: _lose */
                 assert(((running[0] | running[1]) & RUNMASK(r)) == 0);   /* (d) */
                 if :: ratt[r] < MAXATT -> rst[r] = QUEUED :: else -> rst[r] = FAILED fi
              :: (pfin[a] & BIT(r, ratt[r])) == 0 && (plst[a] & BIT(r, ratt[r])) == 0 ->
#ifdef WITNESS
                 assert(WITNESS != 1);
#endif
                 rst[r] = QUEUED                                          /* REJECTED: queued again */
              fi
           :: else                         /* an older attempt (late report) or not on the agent: no change */
           fi;
           r++
        :: else -> break
        od;
        if
        :: repoch[v_i] == highest[a] ->
           if :: (a == 0 -> ev0 : ev1) == 0 -> pfin[a] = 0; prej[a] = 0; plst[a] = 0 :: else fi
        :: else
        fi
     :: else
     fi;
     a++
  :: else -> break
  od;
  a = 0; r = 0
}

/* Controller.tick, in order: _register_agents, _inquire, step 3 (quorum, reconcile, active), _dispatch with
   _record_events (proposed together), _detect_lost_agents, _send_kills_and_resends */
inline ctl_tick() {
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
#ifdef WITNESS
          assert(WITNESS != 5 || repoch[i] < MAXEP);
#endif
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
          :: phase[i] == ACT && rst[r] == QUEUED && ratt[r] < NATT ->
             a = (r == 0 -> d0 : d1);              /* the chosen agent, else the other one, if it may */
             if
             :: conf[i*NA+a] && !alost[a] -> skip
             :: else ->
                a = 1 - a;
                if :: conf[i*NA+a] && !alost[a] -> skip :: else -> a = NONE fi
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
       record_events(i);           /* proposed with DispatchRuns: applied after it */
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
#ifdef WITNESS
                   assert(WITNESS != 4);
#endif
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
       /* reconcile (step 4) and _send_kills_and_resends: re-send a dispatched attempt (agents dedupe) */
       if
       :: rs > 0 && phase[i] == ACT && rst[rs - 1] == DISPATCHED ->
          send_r2a(i, rag[rs - 1], DISPATCH, repoch[i], rs - 1, ratt[rs - 1])
       :: else
       fi;
       d0 = 0; d1 = 0; rs = 0; ev0 = 0; ev1 = 0
}

/* One controller tick is one step of three transitions: the nondeterministic choices (which agent gets a
   queued run: d0, d1; which dispatched attempt is re-sent: rs; what becomes of each agent's results: ev0,
   ev1), then the tick itself as one d_step. */
active [NR] proctype Ctl() {
  byte i = _pid - 1;
  byte a, r, nreg, ncf, d0, d1, rs;
  byte ev0, ev1;
#ifdef DISPATCH_BEFORE_COMMIT
  byte pr = NONE, pa;
#endif
  bool ok;
end:
  do
  :: atomic {
       if
       :: phase[i] != FOL
       :: d_step { WANTS(i, 0); d0 = 1 }
#if NRUN > 1
       :: d_step { WANTS(i, 1); d1 = 1 }
       :: d_step { WANTS(i, 0) && WANTS(i, 1); d0 = 1; d1 = 1 }
#endif
       fi;
#ifndef LIVE
       if
       :: skip
       :: d_step { RESENDS(0); rs = 1 }
       :: d_step { LOSS && ACKS(i, 0); LOST_ONE; ev0 = 1 }
       :: d_step { LOSS && ACKS(i, 0) && RESENDS(0); LOST_ONE; ev0 = 1; rs = 1 }
       :: d_step { RECS(i, 0); ev0 = 2 }
       :: d_step { RECS(i, 0) && RESENDS(0); ev0 = 2; rs = 1 }
#if NRUN > 1
       :: d_step { RESENDS(1); rs = 2 }
       :: d_step { LOSS && ACKS(i, 0) && RESENDS(1); LOST_ONE; ev0 = 1; rs = 2 }
       :: d_step { RECS(i, 0) && RESENDS(1); ev0 = 2; rs = 2 }
#endif
       fi;
       if
       :: d_step { ctl_tick() }
       :: d_step { LOSS && ACKS(i, 1); LOST_ONE; ev1 = 1; ctl_tick() }
       :: d_step { RECS(i, 1); ev1 = 2; ctl_tick() }
       fi
#else
       d_step { ctl_tick() }
#endif
     }
#ifdef DISPATCH_BEFORE_COMMIT
     d_step {                      /* the commit, once the assignment is out: apply re-checks */
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
active [NA] proctype AgentHb() {
  byte a = _pid - 1 - NR;
end:
  do
  :: d_step { HB_GUARD(0, a) -> on_heartbeat(0, a) }
#ifndef LIVE
  :: d_step { HB_GUARD(1, a) -> on_heartbeat(1, a) }
#endif
     /* an attempt ends (Agent._on_exec_event): FINISHED, synced into the unacked list until acknowledged */
  :: d_step { (running[a] & RUNMASK(0)) != 0 ->
              done[a] = done[a] | (running[a] & RUNMASK(0)); pfin[a] = pfin[a] | (running[a] & RUNMASK(0));
              running[a] = running[a] & ~RUNMASK(0) }
#if NRUN > 1
  :: d_step { (running[a] & RUNMASK(1)) != 0 ->
              done[a] = done[a] | (running[a] & RUNMASK(1)); pfin[a] = pfin[a] | (running[a] & RUNMASK(1));
              running[a] = running[a] & ~RUNMASK(1) }
#endif
  od
}

/* Agent._on_replica_message: the receive and the nondeterministic choices, then the rest as one d_step.
   ch for a new (run, attempt), recorded by durable.accept (synced) before Agent._start's checks:
     0  as the lease says: start it, or REJECTED "no valid lease"
     1  REJECTED "no free slot"
     2  either rejection, and the agent crashes before the REJECTED is synced (in memory for up to 10 ms):
        the (run, attempt) is recorded, the rejection is not
   ch for an inquiry the agent confirms: 1 = the InquiryReply is lost */
#define CONFIRMS(a, i, e) (e >= highest[a] && !(e > highest[a] && ldr[a] != NONE && ldr[a] != i && !lsil[a]))
#define NEWATT(a, e, x, y) (FROM_LEADER(a, e) && (accepted[a] & BIT(x, y)) == 0)
inline rx_body() {
       if
       :: k == INQUIRY ->                            /* Agent._on_inquiry */
          if
          :: e < highest[a] -> skip                  /* RejectedMessage */
          :: e > highest[a] && ldr[a] != NONE && ldr[a] != i && !lsil[a] -> skip   /* confirmed=false */
          :: else ->
             if :: e > highest[a] -> highest[a] = e :: else fi;   /* adopt_epoch: synced before the reply */
             ldr[a] = i; lsil[a] = 0;
             if :: ch == 0 -> on_reply(i, a, e) :: else fi
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
             :: (accepted[a] & BIT(x, y)) == 0 ->
#ifndef ACCEPT_AFTER_CHECKS
                accepted[a] = accepted[a] | BIT(x, y);   /* durable.accept (synced), then Agent._start checks */
#endif
                if
#ifndef NO_LEASE_CHECK
                :: ch == 0 && lrem[a] > 0 ->
#else
                :: ch == 0 ->                            /* starts without looking at its lease */
#endif
#ifdef ACCEPT_AFTER_CHECKS
                   accepted[a] = accepted[a] | BIT(x, y);   /* only an attempt that starts is recorded */
#endif
                   assert(e >= highest[a]);                              /* (a) */
                   assert((executed & BIT(x, y)) == 0);                  /* (b) */
                   assert(((running[0] | running[1]) & RUNMASK(x)) == 0); /* (c) */
#ifdef WITNESS
                   assert(WITNESS != 6 || y < NATT);
#endif
                   executed = executed | BIT(x, y);
                   running[a] = running[a] | BIT(x, y)
                :: ch == 2 ->                            /* the crash: nothing reported */
#ifdef WITNESS
                   rejcrash = rejcrash | BIT(x, y);
#endif
                   crash_agent(a)
                :: else -> prej[a] = prej[a] | BIT(x, y)  /* REJECTED: "no valid lease", "no free slot" */
                fi
             :: else ->                                  /* seen before: never runs twice; _account_for */
#ifndef NO_ACCOUNT_FOR
                if
                :: ((running[a] | done[a] | PENDING(a)) & BIT(x, y)) == 0 ->
                   done[a] = done[a] | BIT(x, y); plst[a] = plst[a] | BIT(x, y)   /* lost in a restart */
                :: else
                fi
#else
                skip                                     /* ignored: nothing reported */
#endif
             fi
          :: else
          fi
       :: k == STEPDOWN ->
          if
          :: e < highest[a] -> skip
          :: else -> if :: ldr[a] == i -> ldr[a] = NONE; lsil[a] = 1 :: else fi
          fi
       fi;
       i = 0; e = 0; x = 0; y = 0; k = 0; ch = 0
}

active [NA] proctype AgentRx() {
  byte a = _pid - 1 - NR - NA;
  byte i, e, x, y, ch;
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
       :: d_step { rx_body() }
       :: d_step { k == DISPATCH && NEWATT(a, e, x, y); ch = 1; rx_body() }
#ifndef LIVE
       :: d_step { k == DISPATCH && NEWATT(a, e, x, y) && crashes < MAXCRASH; ch = 2; rx_body() }
       :: d_step { k == INQUIRY && CONFIRMS(a, i, e) && LOSS; LOST_ONE; ch = 1; rx_body() }
#endif
       fi
     }
  od
}

/* (s) checked in every state */
active proctype Monitor() {
end:
#if NRUN > 1
  atomic { STUCK(0) || STUCK(1) -> assert(!STUCK(0) && !STUCK(1)) }
#else
  atomic { STUCK(0) -> assert(!STUCK(0)) }
#endif
}

#ifdef LIVE
/* (e) with a stable leader and every agent reachable, a queued run is eventually dispatched: a run leaves
   QUEUED only through a committed DispatchRuns (a lost-and-retried attempt may be dispatched and marked LOST
   inside one controller tick, so the claim may never observe DISPATCHED itself) */
ltl live { [] ((rst[0] == QUEUED && ratt[0] < NATT) -> <> (rst[0] != QUEUED)) }
#endif
