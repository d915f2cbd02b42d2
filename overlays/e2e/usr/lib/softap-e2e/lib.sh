# Shared by the end-to-end test's guest scripts (test image only, never in
# the product). Results go to the serial console as single lines:
#   SOFTAP-E2E <check> ok|fail <detail>, SOFTAP-E2E-INFO <key> <value>,
#   SOFTAP-E2E-TIME <event> <uptime seconds>, SOFTAP-E2E-DONE <scenario>
# which the harness (tests/src/results.rs) parses.

E2E_RUN=/run/softap-e2e
E2E_CFG=/sys/firmware/qemu_fw_cfg/by_name/opt/softap-e2e/raw
E2E_TTY=/dev/ttyS0
mkdir -p "$E2E_RUN"

# One whole line per write, to the serial port (where the harness reads) and
# to the journal (stdout).
say() {
	local line="$*"
	printf '%s\n' "$line"
	printf '%s\n' "$line" >"$E2E_TTY" 2>/dev/null || true
}

E2E_FAILED=0
ok() { local name=$1; shift; say "SOFTAP-E2E $name ok $*"; }
fail() { local name=$1; shift; E2E_FAILED=1; say "SOFTAP-E2E $name fail $*"; touch "$E2E_RUN/failed"; }
info() { local key=$1; shift; say "SOFTAP-E2E-INFO $key $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
mark() { say "SOFTAP-E2E-TIME $1 ${2:-$(uptime_s)}"; }

# The scenario, from QEMU's fw_cfg (key=value lines). Values are used as data,
# never evaluated.
declare -A CFG
load_config() {
	modprobe qemu_fw_cfg 2>/dev/null || true
	local i
	for i in $(seq 50); do
		[ -r "$E2E_CFG" ] && break
		sleep 0.1
	done
	if [ ! -r "$E2E_CFG" ]; then
		fail config "no fw_cfg entry opt/softap-e2e (QEMU -fw_cfg missing or qemu_fw_cfg module absent)"
		return 1
	fi
	local k v
	while IFS='=' read -r k v; do
		[ -n "$k" ] && CFG[$k]=$v
	done <"$E2E_CFG"
	[ -n "${CFG[scenario]:-}" ] || { fail config "fw_cfg entry has no scenario="; return 1; }
}

# Waits until a command succeeds: wait_for SECONDS CMD... (polls 4x a second).
wait_for() {
	local secs=$1; shift
	local end=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ $(( $(date +%s%N) / 1000000 )) -ge $end ] && return 1
		sleep 0.25
	done
}

# The exchange with the harness's listener (tests/src/listener.rs), as a
# bash script for `bash -c SCRIPT HOST PORT NAME`: read its token line, say
# NAME, print the token line.
LISTENER_EXCHANGE='exec 3<>"/dev/tcp/$0/$1" || exit 1
	IFS= read -r -t 15 line <&3 || exit 2
	printf "%s\n" "$2" >&3
	printf "%s" "$line"'

# Subnet checks, by grepcidr. in_subnet ADDR NET/PREFIX
in_subnet() { grepcidr -e "$2" <<<"$1" >/dev/null 2>&1; }
# overlaps NET/PREFIX NET/PREFIX: subnets nest or are apart, so two overlap
# exactly when one holds the other's (network) address.
overlaps() { in_subnet "${1%/*}" "$2" || in_subnet "${2%/*}" "$1"; }

# Scenario c's upstream Wi-Fi network in netns up: its AP's address and the
# range its DHCP server hands out.
UPSTREAM_WIFI_GW=192.168.77.1
UPSTREAM_WIFI_PREFIX=24
UPSTREAM_WIFI_DHCP=192.168.77.100,192.168.77.150

# The phys in this network namespace, sorted by index (names are counters).
phys_here() { iw phy 2>/dev/null | awk '/^Wiphy /{print $2}' | sort -V; }
# The first interface of phy $1 in this namespace.
iface_of_phy() {
	iw dev 2>/dev/null | awk -v p="phy#${1#phy}" '/^phy#/{cur=$1} $1=="Interface" && cur==p {print $2; exit}'
}

# dhcp NS IFACE NAME: one lease with dhclient (in netns NS, or the root
# namespace when NS is "-"); output in $E2E_RUN/NAME-dhcp.log.
dhcp() {
	local ns=$1 iface=$2 name=$3 run=()
	[ "$ns" = - ] || run=(ip netns exec "$ns")
	# A station that had a lease before (after the watch re-plan) starts clean.
	if [ -f "$E2E_RUN/$name-dhclient.pid" ]; then
		kill "$(cat "$E2E_RUN/$name-dhclient.pid")" 2>/dev/null
		rm -f "$E2E_RUN/$name-dhclient.pid" "$E2E_RUN/$name.leases"
	fi
	"${run[@]}" ip -4 addr flush dev "$iface"
	# The client's host name is NAME: the network's DNS answers for it.
	{ cat /usr/lib/softap-e2e/dhclient.conf; printf 'send host-name "%s";\n' "$name"; } >"$E2E_RUN/$name-dhclient.conf"
	"${run[@]}" timeout 50 dhclient -1 -v -cf "$E2E_RUN/$name-dhclient.conf" \
		-sf /usr/lib/softap-e2e/dhclient.script -lf "$E2E_RUN/$name.leases" \
		-pf "$E2E_RUN/$name-dhclient.pid" "$iface" >"$E2E_RUN/$name-dhcp.log" 2>&1
}

dump_diagnostics() {
	local why=$1
	say "SOFTAP-E2E-DIAG begin: $why"
	{
		echo "== softap-agent status"; softap-agent status 2>&1
		echo "== ip -br addr"; ip -br addr
		echo "== ip route"; ip route show table all | grep -v '^local\|^broadcast\|^multicast\|^fe80\|^ff00'
		echo "== iw dev"; iw dev
		echo "== virsh net-list"; virsh net-list --all 2>&1
		echo "== failed units"; systemctl --failed --no-legend --plain
		local ns
		for ns in $(ip netns list | cut -d' ' -f1); do
			echo "== netns $ns"; ip netns exec "$ns" ip -br addr; ip netns exec "$ns" iw dev
		done
		echo "== bridge link"; bridge link 2>&1
		if [ -d /var/tmp/softap-e2e-vm ]; then
			echo "== the test's libvirt domain"
			virsh -c 'lxc:///system?socket=/run/libvirt/libvirt-sock' list --all 2>&1
			for f in /var/tmp/softap-e2e-vm/*.log; do
				[ -f "$f" ] && { echo "== $f"; tail -n 30 "$f"; }
			done
		fi
		for f in "$E2E_RUN"/*.log; do
			[ -f "$f" ] || continue
			echo "== $f"; tail -n 40 "$f"
		done
		if [ -f "$E2E_RUN/status.json" ]; then
			echo "== the last softap-agent status --json"; cat "$E2E_RUN/status.json"
		fi
		echo "== journal"
		journalctl -b --no-pager -o short-monotonic \
			-u softap-agent -u softap-hostapd -u libvirtd -u systemd-networkd \
			-u softap-e2e-radios -u softap-e2e | tail -n 250
	} 2>&1 | sed 's/^/E2E-DIAG /' >"$E2E_TTY" 2>/dev/null || true
	say "SOFTAP-E2E-DIAG end"
}
