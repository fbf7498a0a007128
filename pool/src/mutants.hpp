// Internal: the deliberate bugs of the mutation self-check (docs/TESTING.md). Each is
// compiled in only when the build says `-Dmutant=<name>` (Meson defines CONNPOOL_MUTANT_<NAME>);
// in every normal build all of them are false and the compiler removes the dead branches.
// Both branches always compile, so a mutant cannot rot.
#pragma once

namespace connpool::detail::mutant {

// the idle timer callback closes its conn without asking whether it is still idle (T6; the race Go's closeConnIfStillIdle exists for)
#ifdef CONNPOOL_MUTANT_TIMER_NO_STILL_IDLE_CHECK
inline constexpr bool timer_no_still_idle_check = true;
#else
inline constexpr bool timer_no_still_idle_check = false;
#endif
// a stale timer callback after reuse and return closes the conn at once, as Go does (the idle-timer divergence undone)
#ifdef CONNPOOL_MUTANT_GO_EARLY_IDLE_CLOSE
inline constexpr bool go_early_idle_close = true;
#else
inline constexpr bool go_early_idle_close = false;
#endif
// the least recently used idle conn is reused instead of the most recent (T4 LIFO; Go f459660cb8)
#ifdef CONNPOOL_MUTANT_FIFO_REUSE
inline constexpr bool fifo_reuse = true;
#else
inline constexpr bool fifo_reuse = false;
#endif
// MaxIdleConns evicts the newest idle conn instead of the oldest (P10)
#ifdef CONNPOOL_MUTANT_EVICT_NEWEST
inline constexpr bool evict_newest = true;
#else
inline constexpr bool evict_newest = false;
#endif
// a returned HTTP/1 conn is never handed to a waiter (P5; golang/go#29889)
#ifdef CONNPOOL_MUTANT_NO_LATE_BINDING
inline constexpr bool no_late_binding = true;
#else
inline constexpr bool no_late_binding = false;
#endif
// a failed dial does not release its MaxConnsPerHost slot (D4; like golang/go#65705)
#ifdef CONNPOOL_MUTANT_DIAL_FAILURE_KEEPS_SLOT
inline constexpr bool dial_failure_keeps_slot = true;
#else
inline constexpr bool dial_failure_keeps_slot = false;
#endif
// a failed dial releases its MaxConnsPerHost slot twice (D4, D7; connCount underflow)
#ifdef CONNPOOL_MUTANT_DIAL_FAILURE_DOUBLE_RELEASE
inline constexpr bool dial_failure_double_release = true;
#else
inline constexpr bool dial_failure_double_release = false;
#endif
// a conn delivered to a request that then cancels is neither pooled nor closed (W3)
#ifdef CONNPOOL_MUTANT_CANCEL_LOSES_DELIVERED_CONN
inline constexpr bool cancel_loses_delivered_conn = true;
#else
inline constexpr bool cancel_loses_delivered_conn = false;
#endif
// a conn reported dead while idle stays on the idle lists (RM2, T4; golang/go#15461)
#ifdef CONNPOOL_MUTANT_BROKEN_CONN_STAYS_IDLE
inline constexpr bool broken_conn_stays_idle = true;
#else
inline constexpr bool broken_conn_stays_idle = false;
#endif
// a new request does not reset the CloseIdleConnections flag (T2, C3)
#ifdef CONNPOOL_MUTANT_CLOSE_IDLE_NEVER_RESET
inline constexpr bool close_idle_never_reset = true;
#else
inline constexpr bool close_idle_never_reset = false;
#endif
// a cancelled waiter behind a live one stays queued, as in Go (W5; golang/go#76784)
#ifdef CONNPOOL_MUTANT_FRONT_ONLY_WAITER_CLEANUP
inline constexpr bool front_only_waiter_cleanup = true;
#else
inline constexpr bool front_only_waiter_cleanup = false;
#endif
// returning a conn without an open lease is not detected (P8 dup idle pconn)
#ifdef CONNPOOL_MUTANT_DUP_RETURN_UNDETECTED
inline constexpr bool dup_return_undetected = true;
#else
inline constexpr bool dup_return_undetected = false;
#endif
// the per-key idle cap evicts the key's oldest conn instead of refusing the newcomer (P7)
#ifdef CONNPOOL_MUTANT_PER_KEY_CAP_EVICTS_OLDEST
inline constexpr bool per_key_cap_evicts_oldest = true;
#else
inline constexpr bool per_key_cap_evicts_oldest = false;
#endif
// a shared conn is removed from the idle list when handed out (X1, T4)
#ifdef CONNPOOL_MUTANT_SHARED_REMOVED_ON_DELIVERY
inline constexpr bool shared_removed_on_delivery = true;
#else
inline constexpr bool shared_removed_on_delivery = false;
#endif
// get_conn hands out a conn idle longer than IdleConnTimeout when its timer has not run (T3)
#ifdef CONNPOOL_MUTANT_NO_TOO_OLD_CHECK
inline constexpr bool no_too_old_check = true;
#else
inline constexpr bool no_too_old_check = false;
#endif
// a returned conn goes to the newest waiter instead of the oldest (P5, W4 FIFO)
#ifdef CONNPOOL_MUTANT_HANDOFF_TO_NEWEST_WAITER
inline constexpr bool handoff_to_newest_waiter = true;
#else
inline constexpr bool handoff_to_newest_waiter = false;
#endif
// closing a conn does not release its MaxConnsPerHost slot (D7)
#ifdef CONNPOOL_MUTANT_CLOSE_KEEPS_SLOT
inline constexpr bool close_keeps_slot = true;
#else
inline constexpr bool close_keeps_slot = false;
#endif
// a dial that finishes after its requester left is closed instead of pooled (G5, D5)
#ifdef CONNPOOL_MUTANT_ORPHAN_DIAL_CLOSED
inline constexpr bool orphan_dial_closed = true;
#else
inline constexpr bool orphan_dial_closed = false;
#endif
// a returned conn keeps its old idle_at (P12)
#ifdef CONNPOOL_MUTANT_IDLE_AT_NOT_REFRESHED
inline constexpr bool idle_at_not_refreshed = true;
#else
inline constexpr bool idle_at_not_refreshed = false;
#endif
// a conn is marked reused only when it joins the idle list, not on every return (P3, TR2)
#ifdef CONNPOOL_MUTANT_REUSED_MARKED_LATE
inline constexpr bool reused_marked_late = true;
#else
inline constexpr bool reused_marked_late = false;
#endif

}  // namespace connpool::detail::mutant
