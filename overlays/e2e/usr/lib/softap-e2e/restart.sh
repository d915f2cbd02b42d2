# Scenario c's ends by crash and by hang, and the boots after them (sourced
# by run). The harness runs QEMU with -no-reboot and an i6300esb watchdog:
# the reset a panic or the watchdog causes ends QEMU, and the harness starts
# the same machine again (same stick, same OVMF variables, where efi_pstore
# keeps the kernel's crash record), telling this script which boot it is:
#   end=panic     after the done line, crash the kernel (sysrq c);
#   end=watchdog  after the done line, freeze PID 1: systemd stops pinging
#                 the watchdog it armed and the watchdog resets the machine;
#   after=panic|watchdog  this boot follows that end: the AP must be back
#                 by itself (the harness compares subnet, SSID, passphrase).

# What the guest prints just before it ends its boot on purpose (the
# harness looks for it, tests/src/faults.rs).
RESTART_CRASH="softap-e2e: crashing the kernel on purpose"
RESTART_HANG="softap-e2e: freezing PID 1 on purpose"

# previous_crash from the last status, without its first lines: the harness
# takes the kernel's panic line on the console for a panic of this boot, so
# it is never echoed (the sysrq line before it names the crash well enough).
crash_summary() {
	jq -c '.previous_crash | if . then del(.first_lines) + {sysrq_line: ([(.first_lines // [])[] | select(test("sysrq"))] | first)} else . end' "$STATUS_JSON" 2>&1
}

# After a panic: status names it, as the previous boot's end.
check_after_panic() {
	local kind prev sysrq restart
	agent_status
	kind=$(status_value .previous_crash.kind)
	prev=$(status_value .previous_crash.previous_boot)
	sysrq=$(status_value '[(.previous_crash.first_lines // [])[] | select(test("sysrq"))] | first')
	restart=$(softap-agent status 2>/dev/null | grep -m1 '^ *Restart' | sed 's/not syncing/(not syncing)/')
	info previous-crash "$(crash_summary)"
	if [ "$kind" = panic ] && [ "$prev" = true ] && [ -n "$sysrq" ]; then
		ok panic-status "status --json previous_crash: kind panic, the previous boot, '$sysrq'; status: '$restart'"
	else
		fail panic-status "status --json previous_crash: $(crash_summary); archive: $(ls -R /var/lib/systemd/pstore 2>&1 | tr '\n' ' ')"
	fi
}

# After the watchdog's reset: no crash record of that boot (a hang leaves
# none), so status must not call it a panic.
check_after_watchdog() {
	local prev
	agent_status
	prev=$(jq -r '.previous_crash.previous_boot' "$STATUS_JSON" 2>&1)
	info previous-crash "$(crash_summary)"
	if [ "$prev" != true ]; then
		ok watchdog-status "status names no crash of the previous boot (previous_crash.previous_boot '$prev')"
	else
		fail watchdog-status "status says the previous boot crashed, which only the watchdog ended: $(crash_summary)"
	fi
}

# systemd (PID 1) armed the i6300esb: its setting, its journal line and the
# device's own state, so that a reset later is the watchdog's doing.
check_watchdog_armed() {
	local usec line state identity timeout
	usec=$(systemctl show -P RuntimeWatchdogUSec)
	line=$(journalctl -b --no-pager -o cat 2>/dev/null | grep -m1 'Using hardware watchdog')
	state=$(cat /sys/class/watchdog/watchdog0/state 2>/dev/null)
	identity=$(cat /sys/class/watchdog/watchdog0/identity 2>/dev/null)
	timeout=$(cat /sys/class/watchdog/watchdog0/timeout 2>/dev/null)
	info watchdog "RuntimeWatchdogUSec=$usec; $line; watchdog0: identity '$identity' state '$state' timeout '$timeout'"
	if [ "$usec" = 30s ] && [ -n "$line" ] && [ "$state" != inactive ]; then
		ok watchdog-armed "systemd: RuntimeWatchdogUSec=$usec, '$line'; /dev/watchdog0 '$identity' state '${state:-unknown}' timeout '${timeout:-unknown}' s"
	else
		fail watchdog-armed "RuntimeWatchdogUSec '$usec' (want 30s), systemd's line '$line' (want 'Using hardware watchdog'), watchdog0 '$identity' state '$state'"
	fi
}

# Scenario c after the harness relaunched it.
scenario_c_after() {
	wait_agent || return
	check_boot
	case ${CFG[after]} in
	panic) check_after_panic ;;
	watchdog) check_after_watchdog ;;
	*) fail config "unknown after='${CFG[after]}'" ;;
	esac
	[ "${CFG[end]:-}" = watchdog ] && check_watchdog_armed
}

# After the done line: the boot's end the harness asked for. Returns when
# none was asked for.
end_on_purpose() {
	case ${CFG[end]:-} in
	panic)
		sync
		say "$RESTART_CRASH (echo c > /proc/sysrq-trigger)"
		echo c >/proc/sysrq-trigger
		sleep 600
		;;
	watchdog)
		sync
		say "$RESTART_HANG (cgroup.freeze of init.scope; systemd pings the watchdog no more)"
		echo 1 >/sys/fs/cgroup/init.scope/cgroup.freeze
		sleep 600
		;;
	esac
}
