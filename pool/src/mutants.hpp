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
// with DisableKeepAlives get_conn still registers as a waiter for returned conns (T1; Go TestIdleConnChannelLeak)
#ifdef CONNPOOL_MUTANT_KEEP_ALIVES_OFF_REGISTERS_WAITER
inline constexpr bool keep_alives_off_registers_waiter = true;
#else
inline constexpr bool keep_alives_off_registers_waiter = false;
#endif
// MaxIdleConnsPerHost 0 means no per-key idle cap instead of the default 2 (K1; golang/go#13801)
#ifdef CONNPOOL_MUTANT_PER_HOST_CAP_ZERO_UNLIMITED
inline constexpr bool per_host_cap_zero_unlimited = true;
#else
inline constexpr bool per_host_cap_zero_unlimited = false;
#endif
// the per-key idle cap refuses only when the list is over the cap, not at it (P7 `>` for `>=`)
#ifdef CONNPOOL_MUTANT_PER_KEY_CAP_OFF_BY_ONE
inline constexpr bool per_key_cap_off_by_one = true;
#else
inline constexpr bool per_key_cap_off_by_one = false;
#endif
// a negative MaxIdleConnsPerHost does not turn keep-alives off (K2, P1)
#ifdef CONNPOOL_MUTANT_NEGATIVE_PER_HOST_CAP_IGNORED
inline constexpr bool negative_per_host_cap_ignored = true;
#else
inline constexpr bool negative_per_host_cap_ignored = false;
#endif
// with keep-alives off a returned conn is still handed to a waiter: P1 checked after P5 (K2)
#ifdef CONNPOOL_MUTANT_KEEP_ALIVES_OFF_HANDED_TO_WAITER
inline constexpr bool keep_alives_off_handed_to_waiter = true;
#else
inline constexpr bool keep_alives_off_handed_to_waiter = false;
#endif
// a conn known dead is accepted back by put (P2 errConnBroken skipped)
#ifdef CONNPOOL_MUTANT_BROKEN_CONN_POOLED
inline constexpr bool broken_conn_pooled = true;
#else
inline constexpr bool broken_conn_pooled = false;
#endif
// with keep-alives off a dead conn is refused as conn_broken, not keep_alives_disabled (P1 before P2; TR3)
#ifdef CONNPOOL_MUTANT_BROKEN_CHECKED_BEFORE_KEEP_ALIVES
inline constexpr bool broken_checked_before_keep_alives = true;
#else
inline constexpr bool broken_checked_before_keep_alives = false;
#endif
// after CloseIdleConnections a returned conn is closed even though a request waits for it (P6 checked before P5)
#ifdef CONNPOOL_MUTANT_CLOSE_IDLE_BEFORE_HANDOFF
inline constexpr bool close_idle_before_handoff = true;
#else
inline constexpr bool close_idle_before_handoff = false;
#endif
// MaxIdleConns evicts when the idle count reaches the cap instead of exceeding it (P10 off by one)
#ifdef CONNPOOL_MUTANT_EVICT_AT_MAX_IDLE
inline constexpr bool evict_at_max_idle = true;
#else
inline constexpr bool evict_at_max_idle = false;
#endif
// MaxIdleConns eviction skips idle conns of the newcomer's key (P10: the LRU back, possibly the same key)
#ifdef CONNPOOL_MUTANT_EVICT_OTHER_KEY_FIRST
inline constexpr bool evict_other_key_first = true;
#else
inline constexpr bool evict_other_key_first = false;
#endif
// a reused conn's idle timer is not re-armed when it is returned (P11 Reset)
#ifdef CONNPOOL_MUTANT_TIMER_NOT_REARMED_ON_RETURN
inline constexpr bool timer_not_rearmed_on_return = true;
#else
inline constexpr bool timer_not_rearmed_on_return = false;
#endif
// a shared (HTTP/2) conn gets a pool idle timer and is closed by it (P11, X1)
#ifdef CONNPOOL_MUTANT_SHARED_CONN_GETS_IDLE_TIMER
inline constexpr bool shared_conn_gets_idle_timer = true;
#else
inline constexpr bool shared_conn_gets_idle_timer = false;
#endif
// returning a shared conn that is already pooled goes through the whole put again (P4 missing)
#ifdef CONNPOOL_MUTANT_SHARED_RETURN_REINSERTED
inline constexpr bool shared_return_reinserted = true;
#else
inline constexpr bool shared_return_reinserted = false;
#endif
// a returned or dialed shared conn is given to the first waiter only, not to every waiter (P5 HTTP/2)
#ifdef CONNPOOL_MUTANT_SHARED_HANDOFF_FIRST_WAITER_ONLY
inline constexpr bool shared_handoff_first_waiter_only = true;
#else
inline constexpr bool shared_handoff_first_waiter_only = false;
#endif
// a shared conn handed to waiters is not pooled as well (P5 HTTP/2 continues to P6+)
#ifdef CONNPOOL_MUTANT_SHARED_NOT_POOLED_AFTER_HANDOFF
inline constexpr bool shared_not_pooled_after_handoff = true;
#else
inline constexpr bool shared_not_pooled_after_handoff = false;
#endif
// a retired shared conn is closed at once, under the requests still using it (X1, closeLocked; golang/go#61474)
#ifdef CONNPOOL_MUTANT_SHARED_CLOSED_UNDER_LIVE_STREAMS
inline constexpr bool shared_closed_under_live_streams = true;
#else
inline constexpr bool shared_closed_under_live_streams = false;
#endif
// a conn learned dead twice releases its MaxConnsPerHost slot twice (D7, X3; golang/go#34387, #34941)
#ifdef CONNPOOL_MUTANT_REPEAT_CLOSE_RELEASES_SLOT
inline constexpr bool repeat_close_releases_slot = true;
#else
inline constexpr bool repeat_close_releases_slot = false;
#endif
// a dial result is delivered to its want although the want already has a conn (W1 tryDeliver at most once)
#ifdef CONNPOOL_MUTANT_DIAL_DELIVERS_TO_GONE_WANT
inline constexpr bool dial_delivers_to_gone_want = true;
#else
inline constexpr bool dial_delivers_to_gone_want = false;
#endif
// a failed dial whose requester stopped waiting keeps its MaxConnsPerHost slot (D3/D4; golang/go#65705)
#ifdef CONNPOOL_MUTANT_ORPHAN_DIAL_FAILURE_KEEPS_SLOT
inline constexpr bool orphan_dial_failure_keeps_slot = true;
#else
inline constexpr bool orphan_dial_failure_keeps_slot = false;
#endif
// a freed MaxConnsPerHost slot goes to the newest dial waiter instead of the oldest (D6 FIFO, W4)
#ifdef CONNPOOL_MUTANT_DIAL_SLOT_TO_NEWEST_WAITER
inline constexpr bool dial_slot_to_newest_waiter = true;
#else
inline constexpr bool dial_slot_to_newest_waiter = false;
#endif
// a freed MaxConnsPerHost slot is released although a request waits for it (D6; golang/go#32336)
#ifdef CONNPOOL_MUTANT_SLOT_FREED_NOT_PASSED
inline constexpr bool slot_freed_not_passed = true;
#else
inline constexpr bool slot_freed_not_passed = false;
#endif
// a freed MaxConnsPerHost slot is both passed to a waiter and decremented (D6; golang/go#29889)
#ifdef CONNPOOL_MUTANT_HANDOFF_DOUBLE_COUNT
inline constexpr bool handoff_double_count = true;
#else
inline constexpr bool handoff_double_count = false;
#endif
// MaxConnsPerHost lets one dial more than the cap start (D1 `<=` for `<`)
#ifdef CONNPOOL_MUTANT_MAX_CONNS_OFF_BY_ONE
inline constexpr bool max_conns_off_by_one = true;
#else
inline constexpr bool max_conns_off_by_one = false;
#endif
// a request queued for a dial slot is not also registered for a returned conn (W4, T5; golang/go#32336)
#ifdef CONNPOOL_MUTANT_DIAL_WAITER_NOT_IN_IDLE_QUEUE
inline constexpr bool dial_waiter_not_in_idle_queue = true;
#else
inline constexpr bool dial_waiter_not_in_idle_queue = false;
#endif
// a dial error is not delivered to the request it was made for, which waits on (D4: exactly one of conn or error per want)
#ifdef CONNPOOL_MUTANT_DIAL_ERROR_NOT_DELIVERED
inline constexpr bool dial_error_not_delivered = true;
#else
inline constexpr bool dial_error_not_delivered = false;
#endif
// CloseIdleConnections also drops the waiters for returned conns (C1; Go <= 1.12 cleared idleConnCh)
#ifdef CONNPOOL_MUTANT_CLOSE_IDLE_CLEARS_WAITERS
inline constexpr bool close_idle_clears_waiters = true;
#else
inline constexpr bool close_idle_clears_waiters = false;
#endif
// CloseIdleConnections leaves idle shared (HTTP/2) conns open (C1, C4; golang/go#13975)
#ifdef CONNPOOL_MUTANT_CLOSE_IDLE_SKIPS_SHARED
inline constexpr bool close_idle_skips_shared = true;
#else
inline constexpr bool close_idle_skips_shared = false;
#endif
// CloseIdleConnections does not make later returns close their conns (C1, C2, P6)
#ifdef CONNPOOL_MUTANT_CLOSE_IDLE_FLAG_NOT_SET
inline constexpr bool close_idle_flag_not_set = true;
#else
inline constexpr bool close_idle_flag_not_set = false;
#endif
// CloseIdleConnections does not cancel dials nobody waits for (C5; golang/go#59017)
#ifdef CONNPOOL_MUTANT_CLOSE_IDLE_SKIPS_ORPHAN_DIALS
inline constexpr bool close_idle_skips_orphan_dials = true;
#else
inline constexpr bool close_idle_skips_orphan_dials = false;
#endif
// CloseIdleConnections also cancels dials a request still waits for (C5)
#ifdef CONNPOOL_MUTANT_CLOSE_IDLE_CANCELS_LIVE_DIALS
inline constexpr bool close_idle_cancels_live_dials = true;
#else
inline constexpr bool close_idle_cancels_live_dials = false;
#endif
// a request resets the CloseIdleConnections flag only when it finds an idle conn (T2)
#ifdef CONNPOOL_MUTANT_CLOSE_IDLE_RESET_ONLY_ON_HIT
inline constexpr bool close_idle_reset_only_on_hit = true;
#else
inline constexpr bool close_idle_reset_only_on_hit = false;
#endif
// a conn idle for exactly IdleConnTimeout counts as too old (T3: idleAt.Before(now - timeout))
#ifdef CONNPOOL_MUTANT_TOO_OLD_INCLUSIVE
inline constexpr bool too_old_inclusive = true;
#else
inline constexpr bool too_old_inclusive = false;
#endif
// the too-old check runs with IdleConnTimeout 0, which means no limit (K3, T3)
#ifdef CONNPOOL_MUTANT_TOO_OLD_WITHOUT_TIMEOUT
inline constexpr bool too_old_without_timeout = true;
#else
inline constexpr bool too_old_without_timeout = false;
#endif
// the idle scan stops at the first too-old conn instead of retiring it and going on (T4)
#ifdef CONNPOOL_MUTANT_TOO_OLD_STOPS_SCAN
inline constexpr bool too_old_stops_scan = true;
#else
inline constexpr bool too_old_stops_scan = false;
#endif
// a conn whose idle timer already fired is dropped from the idle list unclosed instead of handed out (golang/go#25621, Go 1.10)
#ifdef CONNPOOL_MUTANT_TIMER_STOP_FAILURE_SKIPS_CONN
inline constexpr bool timer_stop_failure_skips_conn = true;
#else
inline constexpr bool timer_stop_failure_skips_conn = false;
#endif
// removing a conn from the idle list leaves its idle timer pending (RM1)
#ifdef CONNPOOL_MUTANT_REMOVE_KEEPS_TIMER
inline constexpr bool remove_keeps_timer = true;
#else
inline constexpr bool remove_keeps_timer = false;
#endif
// a stale idle-timer callback re-arms for a full IdleConnTimeout instead of the rest (idle-timer divergence, P11)
#ifdef CONNPOOL_MUTANT_STALE_TIMER_REARMS_FULL_TIMEOUT
inline constexpr bool stale_timer_rearms_full_timeout = true;
#else
inline constexpr bool stale_timer_rearms_full_timeout = false;
#endif
// cancelling a waiting request cancels its dial (G2; Go <= 1.22, golang/go#59017)
#ifdef CONNPOOL_MUTANT_CANCEL_CANCELS_DIAL
inline constexpr bool cancel_cancels_dial = true;
#else
inline constexpr bool cancel_cancels_dial = false;
#endif
// a request served by a returned conn has its dial cancelled (golang/go#66442)
#ifdef CONNPOOL_MUTANT_HANDOFF_CANCELS_DIAL
inline constexpr bool handoff_cancels_dial = true;
#else
inline constexpr bool handoff_cancels_dial = false;
#endif
// a conn handed over by late binding is traced as was_idle (TR2)
#ifdef CONNPOOL_MUTANT_HANDOFF_REPORTED_AS_IDLE
inline constexpr bool handoff_reported_as_idle = true;
#else
inline constexpr bool handoff_reported_as_idle = false;
#endif
// a conn taken from the idle list reports idle_time 0 (TR2 IdleTime)
#ifdef CONNPOOL_MUTANT_IDLE_TIME_NOT_REPORTED
inline constexpr bool idle_time_not_reported = true;
#else
inline constexpr bool idle_time_not_reported = false;
#endif
// Lease::reused is derived from was_idle, so handed-over conns read as fresh (TR2, RT2(c))
#ifdef CONNPOOL_MUTANT_REUSED_FROM_WAS_IDLE
inline constexpr bool reused_from_was_idle = true;
#else
inline constexpr bool reused_from_was_idle = false;
#endif
// a pooled orphan dial is not marked reused because it never carried a request (P3, TR2)
#ifdef CONNPOOL_MUTANT_ORPHAN_DIAL_NOT_MARKED_REUSED
inline constexpr bool orphan_dial_not_marked_reused = true;
#else
inline constexpr bool orphan_dial_not_marked_reused = false;
#endif
// the get_conn trace hook is not called when an idle conn is used (G1, TR1; golang/go#23041)
#ifdef CONNPOOL_MUTANT_GET_CONN_TRACE_SKIPPED_ON_IDLE_HIT
inline constexpr bool get_conn_trace_skipped_on_idle_hit = true;
#else
inline constexpr bool get_conn_trace_skipped_on_idle_hit = false;
#endif
// got_conn is traced for shared (HTTP/2) conns (X2; golang/go#34282)
#ifdef CONNPOOL_MUTANT_GOT_CONN_FOR_SHARED
inline constexpr bool got_conn_for_shared = true;
#else
inline constexpr bool got_conn_for_shared = false;
#endif
// the put_idle_conn trace fires for keep_alives_disabled refusals (TR3)
#ifdef CONNPOOL_MUTANT_PUT_TRACE_FOR_KEEP_ALIVES_OFF
inline constexpr bool put_trace_for_keep_alives_off = true;
#else
inline constexpr bool put_trace_for_keep_alives_off = false;
#endif
// the put_idle_conn trace fires when an orphan dial is pooled (TR3, D5)
#ifdef CONNPOOL_MUTANT_PUT_TRACE_ON_ORPHAN_DIAL
inline constexpr bool put_trace_on_orphan_dial = true;
#else
inline constexpr bool put_trace_on_orphan_dial = false;
#endif
// the put_idle_conn trace fires for shared conns (TR3, X2)
#ifdef CONNPOOL_MUTANT_PUT_TRACE_FOR_SHARED
inline constexpr bool put_trace_for_shared = true;
#else
inline constexpr bool put_trace_for_shared = false;
#endif
// shared conns do not count toward the per-key idle cap (X1, P7)
#ifdef CONNPOOL_MUTANT_SHARED_EXEMPT_FROM_PER_KEY_CAP
inline constexpr bool shared_exempt_from_per_key_cap = true;
#else
inline constexpr bool shared_exempt_from_per_key_cap = false;
#endif
// a recycled dial slot keeps the cancelled mark of its previous dial, so CloseIdleConnections never cancels the new orphan dial (C5, D2)
#ifdef CONNPOOL_MUTANT_RECYCLED_DIAL_KEEPS_CANCEL_FLAG
inline constexpr bool recycled_dial_keeps_cancel_flag = true;
#else
inline constexpr bool recycled_dial_keeps_cancel_flag = false;
#endif
// a finished request's WantId is not invalidated, so it names the next request in the same slot (W1, divergence (c))
#ifdef CONNPOOL_MUTANT_STALE_WANT_ID_ACCEPTED
inline constexpr bool stale_want_id_accepted = true;
#else
inline constexpr bool stale_want_id_accepted = false;
#endif
// a shared conn is handed to the waiters newest first instead of FIFO (P5 HTTP/2, W4)
#ifdef CONNPOOL_MUTANT_SHARED_HANDOFF_NEWEST_FIRST
inline constexpr bool shared_handoff_newest_first = true;
#else
inline constexpr bool shared_handoff_newest_first = false;
#endif
// CloseIdleConnections stops looking for orphan dials at the first dial that is live or already cancelled (C5)
#ifdef CONNPOOL_MUTANT_CLOSE_IDLE_CANCEL_SCAN_STOPS_EARLY
inline constexpr bool close_idle_cancel_scan_stops_early = true;
#else
inline constexpr bool close_idle_cancel_scan_stops_early = false;
#endif
// ending a lease on a shared (HTTP/2 style) conn releases its MaxConnsPerHost slot, as if each request held one (D8, D7; golang/go#27753)
#ifdef CONNPOOL_MUTANT_SHARED_SLOT_RELEASED_PER_LEASE
inline constexpr bool shared_slot_released_per_lease = true;
#else
inline constexpr bool shared_slot_released_per_lease = false;
#endif
// a conn taken from the idle list (T4) leaves its key's list but not the cross-key LRU, so a later MaxIdleConns eviction (P10) closes it under its request (RM1, INV1)
#ifdef CONNPOOL_MUTANT_IDLE_HIT_LEFT_IN_LRU
inline constexpr bool idle_hit_left_in_lru = true;
#else
inline constexpr bool idle_hit_left_in_lru = false;
#endif
// a want served by a hand-off stays in its key's dial queue, and a freed MaxConnsPerHost slot starts a dial for it (W4, D6: decConnsPerHost skips wants no longer waiting)
#ifdef CONNPOOL_MUTANT_DIAL_QUEUE_KEEPS_SERVED_WANT
inline constexpr bool dial_queue_keeps_served_want = true;
#else
inline constexpr bool dial_queue_keeps_served_want = false;
#endif
// a conn given back by a cancelled request (W3) goes straight to the idle list, past a request waiting for it (P5 skipped)
#ifdef CONNPOOL_MUTANT_CANCEL_REPOOL_SKIPS_HANDOFF
inline constexpr bool cancel_repool_skips_handoff = true;
#else
inline constexpr bool cancel_repool_skips_handoff = false;
#endif
// a dial whose requester left (D5, G5) is pooled straight away, past a request waiting for a conn (P5 skipped; the golang/go#32336 pattern of a waiter left waiting)
#ifdef CONNPOOL_MUTANT_ORPHAN_DIAL_SKIPS_HANDOFF
inline constexpr bool orphan_dial_skips_handoff = true;
#else
inline constexpr bool orphan_dial_skips_handoff = false;
#endif
// a returned conn with no waiter of its own key is handed to a waiter of another key (K5, P5)
#ifdef CONNPOOL_MUTANT_HANDOFF_IGNORES_KEY
inline constexpr bool handoff_ignores_key = true;
#else
inline constexpr bool handoff_ignores_key = false;
#endif
// the too-old check skips shared conns, so a shared conn first pooled longer than IdleConnTimeout ago is still handed out (T3, X1 derived)
#ifdef CONNPOOL_MUTANT_TOO_OLD_SKIPS_SHARED
inline constexpr bool too_old_skips_shared = true;
#else
inline constexpr bool too_old_skips_shared = false;
#endif
// MaxConnsPerHost 0 is a cap of zero conns instead of no limit, so no dial ever starts (K3, D1)
#ifdef CONNPOOL_MUTANT_MAX_CONNS_ZERO_COUNTS
inline constexpr bool max_conns_zero_counts = true;
#else
inline constexpr bool max_conns_zero_counts = false;
#endif
// the put_idle_conn trace is not called when a returned conn is handed to a waiter (TR3: PutIdleConn(nil) on success, including P5)
#ifdef CONNPOOL_MUTANT_PUT_TRACE_MISSING_ON_HANDOFF
inline constexpr bool put_trace_missing_on_handoff = true;
#else
inline constexpr bool put_trace_missing_on_handoff = false;
#endif

}  // namespace connpool::detail::mutant
