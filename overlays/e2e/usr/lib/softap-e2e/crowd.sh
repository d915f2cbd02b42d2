# A crowd on the AP (sourced by radios and run): the last checks of
# scenario c or a, by hand only; not in CI, since a WPA3 station can still
# be stranded under TCG (see crowd_start_one):
#   SOFTAP_E2E_EXTRA="radios=19 crowd=16 crowd_rounds=3" cargo run -p softap-tests --bin softap-e2e -- c
# (with crowd_stagger=3, the starts spread over 3 s, it passed the one boot
# tried, without a single repeated association);
# (the fw_cfg entries override the scenario's radios); `crowd_debug=1` adds
# hostapd's and the stations' debug logs, and what they said about each
# station left without a lease goes to the console.
# At boot, `radios` gives each of the N radios beyond the scenario's own a
# network namespace of its own (crowd1 ... crowdN) before the agent looks for
# a phy. At the end of the scenario every one of them runs wpa_supplicant
# (WPA2, and SAE for every fourth one when the AP offers WPA3 transition)
# and a `wpa_cli -a` whose action, crowd-event, takes a DHCP lease with
# busybox's udhcpc on every connection and notes the times. All stations
# start associating within the same second; each must get a lease in the
# agent's subnet with its own key management, reach the gateway and the
# upstream, and be a station member in `softap-agent status --json`. Then
# rounds of all leaving and all rejoining (crowd_rounds, 5 by default),
# after which hostapd, libvirt's dnsmasq and the agent must be the
# same processes, their memory (VmRSS) within twice what it was with the
# crowd first on.
#
# Timings are printed (SOFTAP-E2E-INFO crowd-*), not held to a target: the
# only time limit is a generous one for a slow shared machine under TCG
# (crowd_limit, 120 s for every station of a join or a rejoin to have its
# lease). So is how many associations hostapd made per join (crowd-assoc).

CROWD_RUN=$E2E_RUN/crowd
CROWD_RADIOS=$E2E_RUN/crowd-radios
# VmRSS after the rounds may be at most this many times what it was after
# the first join: a leak of a station's worth per join would pass 16 x 5
# joins, a steady state would stay near 1.
CROWD_RSS_FACTOR=2

# crowd_radios PHY...: in `radios`, the first CFG[crowd] of the given phys
# into namespaces crowd1 ... crowdN.
crowd_radios() {
	local want=${CFG[crowd]:-0} i=0 phy ns
	[ "$want" -gt 0 ] || return 0
	if [ $# -lt "$want" ]; then
		fail radios "$# radios left for a crowd of $want (the scenario's radios must count the crowd's)"
		return 1
	fi
	: >"$CROWD_RADIOS"
	for phy in "${@:1:$want}"; do
		i=$((i + 1))
		ns=crowd$i
		if ! { ip netns add "$ns" && ip -n "$ns" link set lo up && iw phy "$phy" set netns name "$ns"; }; then
			fail radios "moving $phy into netns $ns for the crowd failed"
			return 1
		fi
		echo "$ns $phy" >>"$CROWD_RADIOS"
	done
}

# The crowd's stations, by index: name (= namespace), interface, MAC
# address, mode (wpa2 or sae); filled by crowd_setup.
CROWD=()
CROWD_IF=()
CROWD_MAC=()
CROWD_MODE=()

# crowd_cli I ARGS...: wpa_cli on station I.
crowd_cli() {
	local i=$1
	shift
	ip netns exec "${CROWD[$i]}" wpa_cli -p "$CROWD_RUN/wpa-${CROWD[$i]}" -i "${CROWD_IF[$i]}" "$@"
}

# Writes station I's wpa_supplicant configuration: start_station's (run),
# but with the network disabled, so that wpa_supplicant and its wpa_cli are
# up before any station starts to associate, and all start together.
crowd_conf() {
	local i=$1 name=${CROWD[$1]} freq=$2
	{
		echo "ctrl_interface=$CROWD_RUN/wpa-$name"
		[ "${CROWD_MODE[$i]}" = sae ] && echo "sae_pwe=2"
		echo "network={"
		echo "	ssid=$AG_SSID_HEX"
		if [ "${CROWD_MODE[$i]}" = sae ]; then
			echo "	key_mgmt=SAE"
			echo "	ieee80211w=2"
			echo "	sae_password=\"$AG_PASSPHRASE\""
		else
			echo "	key_mgmt=WPA-PSK"
			echo "	ieee80211w=0"
			echo "	psk=\"$AG_PASSPHRASE\""
		fi
		[ -n "$freq" ] && echo "	scan_freq=$freq"
		echo "	disabled=1"
		echo "}"
	} >"$CROWD_RUN/$name.conf"
}

# Runs `CMD... I` for every station at once and waits for them all.
crowd_each() {
	local i pids=()
	for i in "${!CROWD[@]}"; do
		"$@" "$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
}

# The stations run at the lowest CPU priority (nice 19; their wpa_cli's
# actions, udhcpc included, inherit it). Sixteen phones bring sixteen CPUs;
# here they share the AP's two emulated ones, and at the same priority their
# SAE and DHCP work helped keep hostapd (itself many times slower under
# TCG) from answering association requests within the 100 ms after which
# mac80211 sends the request again. hostapd takes
# each late copy for a new association (the station removed from the
# kernel, its keys with it, and a new 4-way handshake): WPA2 stations
# recover when the AP's deauthentication reaches them, but a WPA3 station
# (protected management frames) that already installed its key drops that
# unprotected deauthentication and waits in the 4-way handshake for good.
# Niced, the stations' work stands back for the AP's, as another device's
# would. That is not enough under TCG: of two boots of scenario c with it,
# one passed with no repeated association in the first join, the other had
# 22 repeats and two SAE stations stranded, as before.
# crowd_each_spread CMD...: as crowd_each, but with crowd_stagger=S (seconds,
# 0 by default) station I starts S*I/N seconds after the first, so the N
# starts spread evenly over S seconds (every fourth one SAE).
crowd_each_spread() {
	local i pids=() n=${#CROWD[@]} s=${CFG[crowd_stagger]:-0}
	for i in "${!CROWD[@]}"; do
		(
			[ "$s" = 0 ] || sleep "$(awk -v i="$i" -v n="$n" -v s="$s" 'BEGIN {printf "%.2f", s * i / n}')"
			"$@" "$i"
		) &
		pids+=($!)
	done
	wait "${pids[@]}"
}

crowd_start_one() {
	local i=$1 name=${CROWD[$1]} ns=${CROWD[$1]}
	local debug=()
	[ "${CFG[crowd_debug]:-0}" = 1 ] && debug=(-d -t)
	ip netns exec "$ns" nice -n 19 wpa_supplicant -B "${debug[@]}" -i "${CROWD_IF[$i]}" -c "$CROWD_RUN/$name.conf" \
		-P "$CROWD_RUN/$name.pid" -f "$CROWD_RUN/$name.log" || return 1
	ip netns exec "$ns" env CROWD_NAME="$name" CROWD_DIR="$CROWD_RUN" \
		nice -n 19 wpa_cli -p "$CROWD_RUN/wpa-$name" -i "${CROWD_IF[$i]}" -a /usr/lib/softap-e2e/crowd-event \
		-B -P "$CROWD_RUN/$name-cli.pid" >/dev/null 2>&1
}

# crowd_go I COMMAND...: station I (re)starts associating; its start time
# noted.
crowd_go() {
	local i=$1
	shift
	echo "$EPOCHREALTIME" >"$CROWD_RUN/${CROWD[$i]}.start"
	crowd_cli "$i" "$@" >/dev/null 2>&1
}
crowd_enable() { crowd_go "$1" enable_network 0; }
crowd_reconnect() { crowd_go "$1" reconnect; }
crowd_disconnect() { crowd_cli "$1" disconnect >/dev/null 2>&1; }

# The stations without a (non-empty) NAME.$1 file, space-separated.
crowd_missing() {
	local name out=
	for name in "${CROWD[@]}"; do
		[ -s "$CROWD_RUN/$name.$1" ] || out+="$name "
	done
	printf '%s' "${out% }"
}
# crowd_wait KIND SECONDS: every station has its NAME.KIND file.
crowd_wait() {
	local end=$((SECONDS + $2))
	while [ -n "$(crowd_missing "$1")" ]; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.5
	done
}
# crowd_wait_leases SECONDS: every station has its lease. A station still
# not connected 45 s after the start is told to reassociate, once, as a
# user would. Those stations are in CROWD_NUDGED ("name(state) ...") and
# printed with the figures. It does not rescue a WPA3 station stranded in
# the 4-way handshake (see crowd_start_one): wpa_supplicant believes it is
# still associated and only scans.
crowd_wait_leases() {
	local end=$((SECONDS + $1)) nudge_at=$((SECONDS + 45)) i st
	CROWD_NUDGED=
	while [ -n "$(crowd_missing lease)" ]; do
		[ "$SECONDS" -ge "$end" ] && return 1
		if [ -n "$nudge_at" ] && [ "$SECONDS" -ge "$nudge_at" ]; then
			nudge_at=
			for i in "${!CROWD[@]}"; do
				[ -s "$CROWD_RUN/${CROWD[$i]}.lease" ] && continue
				st=$(crowd_cli "$i" status 2>/dev/null | sed -n 's/^wpa_state=//p')
				[ "$st" = COMPLETED ] && continue
				crowd_cli "$i" reassociate >/dev/null 2>&1
				CROWD_NUDGED+="${CROWD[$i]}(${st:-?}) "
			done
		fi
		sleep 0.5
	done
}
# Clears the files of one round.
crowd_clear() {
	local name
	for name in "${CROWD[@]}"; do
		rm -f "$CROWD_RUN/$name".{start,assoc,lease,nolease,gone}
	done
}

# What a station that missed its lease was doing, on one line.
crowd_why() {
	local i name st
	for i in "${!CROWD[@]}"; do
		name=${CROWD[$i]}
		[ -s "$CROWD_RUN/$name.lease" ] && continue
		st=$(crowd_cli "$i" status 2>&1 | sed -n 's/^wpa_state=//p')
		printf '%s: wpa_state=%s dhcp "%s"; ' "$name" "${st:-?}" \
			"$(tail -n 2 "$CROWD_RUN/$name-dhcp.log" 2>/dev/null | tr '\n' ' ')"
	done
	printf 'hostapd lists %s stations' "$(crowd_ap_stations | wc -l)"
}

# For the stations without a lease: hostapd's journal lines about each
# (with crowd_debug=1, hostapd logs at DEBUG during the crowd) and the end of
# its wpa_supplicant's log, on the console.
crowd_dump() {
	local i name
	say "SOFTAP-E2E-DIAG begin: the crowd's stations without a lease"
	for i in "${!CROWD[@]}"; do
		name=${CROWD[$i]}
		[ -s "$CROWD_RUN/$name.lease" ] && [ "${1:-}" != sae -o "${CROWD_MODE[$i]}" != sae ] && continue
		{
			echo "== $name ${CROWD_MODE[$i]} ${CROWD_MAC[$i]}: hostapd"
			journalctl -b -o short-monotonic --no-pager -u softap-hostapd --since "@$CROWD_SINCE" 2>/dev/null |
				grep -i -- "${CROWD_MAC[$i]}" | tail -n 80
			echo "== $name: wpa_supplicant"
			grep -E 'SAE|EAPOL|WPA:|State:|deauth|Deauth|auth|assoc|CTRL-EVENT|RSN|PMK' "$CROWD_RUN/$name.log" | tail -n 80
		} 2>&1 | sed 's/^/E2E-DIAG /' >"$E2E_TTY" 2>/dev/null || true
	done
	say "SOFTAP-E2E-DIAG end"
}

# How many associations hostapd made per station since the crowd started
# ("aid" lines of its journal; hostapd says each on stdout and to syslog,
# the syslog ones are counted): more than one per join means hostapd took
# a resent association request for a new association. Sets CROWD_ASSOC
# ("N associations for M joins; more than one a join: name(mode) xK ...").
crowd_assoc_counts() {
	local joins=$1 i c total=0 repeated=
	journalctl -b -o cat --no-pager -u softap-hostapd _TRANSPORT=syslog --since "@$CROWD_SINCE" 2>/dev/null |
		grep 'IEEE 802.11: associated (aid' >"$CROWD_RUN/assoc.log"
	for i in "${!CROWD[@]}"; do
		c=$(grep -c -- "${CROWD_MAC[$i]}" "$CROWD_RUN/assoc.log")
		total=$((total + c))
		[ "$c" -gt "$joins" ] && repeated+="${CROWD[$i]}(${CROWD_MODE[$i]}) x$c "
	done
	CROWD_ASSOC="$total associations for $((joins * ${#CROWD[@]})) joins; more than one a join: ${repeated:-none}"
}

# The MAC addresses hostapd lists, one a line (all_sta starts each
# station's block with its address alone on a line).
crowd_ap_stations() {
	"${AG_EXEC[@]}" hostapd_cli -p "$HOSTAPD_CTRL" -i "${AG_IFACE:-softap}" all_sta 2>/dev/null |
		grep -E '^([0-9a-f]{2}:){5}[0-9a-f]{2}$'
}
crowd_none_on_ap() {
	local listed mac
	listed=$(crowd_ap_stations)
	for mac in "${CROWD_MAC[@]}"; do
		grep -qx "$mac" <<<"$listed" && return 1
	done
	return 0
}

# Each station's seconds "join lease total" (start -> association ->
# lease) of the last round, one line each.
crowd_times() {
	local name
	for name in "${CROWD[@]}"; do
		echo "$(cat "$CROWD_RUN/$name.start") $(cat "$CROWD_RUN/$name.assoc") $(cat "$CROWD_RUN/$name.lease")"
	done | awk '{printf "%.3f %.3f %.3f\n", $2 - $1, $3 - $2, $3 - $1}'
}
# "median X s, worst Y s" of column $1 of stdin.
crowd_med_max() {
	awk -v c="$1" '{print $c}' | sort -g | awk '{v[NR] = $1}
		END {
			if (NR == 0) { print "none"; exit }
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "median %.2f s, worst %.2f s", m, v[NR]
		}'
}
crowd_figures() {
	printf 'start->association %s; association->lease %s; start->lease %s' \
		"$(crowd_med_max 1 <"$1")" "$(crowd_med_max 2 <"$1")" "$(crowd_med_max 3 <"$1")"
}
# Seconds between the first and the last station's start.
crowd_spread() {
	local name
	for name in "${CROWD[@]}"; do cat "$CROWD_RUN/$name.start"; done |
		sort -g | awk 'NR == 1 {a = $1} {b = $1} END {printf "%.2f", b - a}'
}

# The PIDs of hostapd, libvirt's dnsmasq of the agent's network and the
# agent, as "hostapd=P dnsmasq=P softap-agent=P".
crowd_pids() {
	local dnsmasq="" p net
	net=$(status_value .network)
	if [ -s "/run/libvirt/network/$net.pid" ]; then
		dnsmasq=$(cat "/run/libvirt/network/$net.pid")
	else
		for p in /proc/[0-9]*; do
			tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "dnsmasq/$net.conf" && { dnsmasq=${p#/proc/}; break; }
		done
	fi
	printf 'hostapd=%s dnsmasq=%s softap-agent=%s' \
		"$(systemctl show -P MainPID softap-hostapd.service)" "${dnsmasq:-none}" \
		"$(systemctl show -P MainPID softap-agent.service)"
}
# crowd_rss "name=PID ...": "name=KB ..." (VmRSS; "gone" for a dead process).
crowd_rss() {
	local kv out=
	for kv in $1; do
		out+="${kv%%=*}=$(awk '/^VmRSS:/ {print $2}' "/proc/${kv#*=}/status" 2>/dev/null || true) "
	done
	out=${out//= /=gone }
	printf '%s' "${out% }"
}
# crowd_grown BEFORE AFTER: the processes whose VmRSS grew past the factor.
crowd_grown() {
	local kv name b a out=
	for kv in $2; do
		name=${kv%%=*}
		a=${kv#*=}
		b=$(tr ' ' '\n' <<<"$1" | sed -n "s/^$name=//p")
		if [ "$a" = gone ] || [ "$b" = gone ] || [ -z "$b" ] || [ "$a" -gt $((b * CROWD_RSS_FACTOR)) ]; then
			out+="$name $b -> $a kB; "
		fi
	done
	printf '%s' "$out"
}

# Fills the station arrays and starts every station's wpa_supplicant and
# wpa_cli, none associating yet.
crowd_setup() {
	local i ns freq sae=0
	mapfile -t CROWD < <(awk '{print $1}' "$CROWD_RADIOS" 2>/dev/null)
	if [ "${#CROWD[@]}" -lt "${CFG[crowd]}" ]; then
		fail crowd "${#CROWD[@]} crowd namespaces, wanted ${CFG[crowd]} (see radios)"
		return 1
	fi
	# Every fourth station with SAE when the AP offers it (WPA3 transition).
	# With every second one, under TCG, hostapd's SAE work for eight at
	# once delayed its association responses past the stations' 100 ms
	# retry, and some SAE stations (protected management frames) ended up
	# deauthenticated by the AP but waiting in the 4-way handshake.
	[ "$AG_SECURITY" = wpa3-transition ] && sae=1
	freq=$(ap_freq)
	rm -rf "$CROWD_RUN"
	mkdir -p "$CROWD_RUN"
	for i in "${!CROWD[@]}"; do
		ns=${CROWD[$i]}
		CROWD_IF[i]=$(netns_iface "$ns")
		CROWD_MAC[i]=$(ip -n "$ns" -br link show dev "${CROWD_IF[$i]}" 2>/dev/null | awk '{print $3}')
		if [ -z "${CROWD_IF[$i]}" ] || [ -z "${CROWD_MAC[$i]}" ]; then
			fail crowd "no wireless interface in netns $ns"
			return 1
		fi
		CROWD_MODE[i]=wpa2
		[ "$sae" = 1 ] && [ $((i % 4)) = 3 ] && CROWD_MODE[i]=sae
		crowd_conf "$i" "$freq"
	done
	# Whether the stations doze between frames (the kernel's default for
	# radios that can), which makes the AP hold their frames until they wake.
	info crowd-power-save "${CROWD[0]}: $(ip netns exec "${CROWD[0]}" iw dev "${CROWD_IF[0]}" get power_save 2>&1)"
	crowd_each crowd_start_one
	# Both daemons write their PID files just after their parent returned.
	if ! wait_for 20 crowd_started; then
		fail crowd "wpa_supplicant or wpa_cli did not start: no $(crowd_started; echo "$CROWD_BAD")"
		return 1
	fi
}
# Whether every station's wpa_supplicant and wpa_cli wrote their PID
# files; the missing ones in CROWD_BAD.
crowd_started() {
	local i f
	CROWD_BAD=
	for i in "${!CROWD[@]}"; do
		for f in "$CROWD_RUN/${CROWD[$i]}.pid" "$CROWD_RUN/${CROWD[$i]}-cli.pid"; do
			[ -s "$f" ] || CROWD_BAD+="${f##*/} "
		done
	done
	[ -z "$CROWD_BAD" ]
}

# The stations' key management, as wpa_supplicant reports it, in CROWD_KM
# ("8 SAE, 8 WPA2-PSK"), and in CROWD_BAD those without their mode's.
crowd_key_mgmt() {
	local i km want
	CROWD_BAD=
	: >"$CROWD_RUN/key_mgmt"
	for i in "${!CROWD[@]}"; do
		km=$(crowd_cli "$i" status 2>/dev/null | sed -n 's/^key_mgmt=//p')
		want=WPA2-PSK
		[ "${CROWD_MODE[$i]}" = sae ] && want=SAE
		[ "$km" = "$want" ] || CROWD_BAD+="${CROWD[$i]} key_mgmt=$km (wanted $want); "
		echo "${km:-none}" >>"$CROWD_RUN/key_mgmt"
	done
	CROWD_KM=$(sort "$CROWD_RUN/key_mgmt" | uniq -c | awk '{printf "%s%d %s", (NR > 1 ? ", " : ""), $1, $2}')
}

# Every station's address ("MAC IPV4" lines) into $CROWD_RUN/want;
# those without one in the agent's subnet in CROWD_BAD.
crowd_addresses() {
	local i addr
	CROWD_BAD=
	: >"$CROWD_RUN/want"
	for i in "${!CROWD[@]}"; do
		addr=$(ip -n "${CROWD[$i]}" -4 -o addr show dev "${CROWD_IF[$i]}" 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -n1)
		if [ -n "$addr" ] && in_subnet "$addr" "$AG_SUBNET"; then
			echo "${CROWD_MAC[$i]} $addr" >>"$CROWD_RUN/want"
		else
			CROWD_BAD+="${CROWD[$i]} has '$addr'; "
		fi
	done
}

# crowd_ping_one I: station I pings the gateway and the upstream through
# the NAT: CROWD_UPSTREAM, or else QEMU's user network host address, which
# QEMU itself answers.
crowd_ping_one() {
	local ns=${CROWD[$1]} up=${CROWD_UPSTREAM:-${CFG[listener_host]:-}}
	ip netns exec "$ns" busybox ping -c 2 -W 5 "$AG_GATEWAY" >/dev/null 2>&1 || echo "$ns: gateway $AG_GATEWAY" >>"$CROWD_RUN/unreached"
	[ -z "$up" ] || ip netns exec "$ns" busybox ping -c 2 -W 5 "$up" >/dev/null 2>&1 || echo "$ns: upstream $up" >>"$CROWD_RUN/unreached"
}

# The stations of $CROWD_RUN/want that the last status does not list as a
# station member with that address.
crowd_not_members() {
	jq -r --rawfile want "$CROWD_RUN/want" '
		[.members[] | select(.kind == "station")] as $st
		| $want | split("\n") | map(select(length > 0) | split(" "))
		| map(select(. as [$m, $a] | $st | any(.mac == $m and any(.ipv4[]; . == $a)) | not) | join(" "))
		| join(", ")' "$STATUS_JSON" 2>&1
}

# `softap-agent status --json`, timed: sets CROWD_STATUS_S.
crowd_status() {
	local t0=$EPOCHREALTIME rc=0
	agent_status || rc=1
	CROWD_STATUS_S=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.2f", b - a}')
	return $rc
}

# One round: all leave (hostapd must list none of them), then all rejoin.
crowd_round() {
	local r=$1 limit=$2 t0 t
	crowd_clear
	t0=$EPOCHREALTIME
	crowd_each crowd_disconnect
	if ! crowd_wait gone 60 || ! wait_for 60 crowd_none_on_ap; then
		CROWD_BAD="round $r: not all left within 60 s (no disconnection from: $(crowd_missing gone); hostapd lists $(crowd_ap_stations | tr '\n' ' '))"
		return 1
	fi
	crowd_each_spread crowd_reconnect
	if ! crowd_wait_leases "$limit"; then
		CROWD_BAD="round $r: no lease within $limit s of rejoining for $(crowd_missing lease): $(crowd_why)${CROWD_NUDGED:+ (told to reassociate: $CROWD_NUDGED)}"
		return 1
	fi
	CROWD_NUDGES+=$CROWD_NUDGED
	t=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
	crowd_times >"$CROWD_RUN/round.times"
	cat "$CROWD_RUN/round.times" >>"$CROWD_RUN/rejoin.times"
	info "crowd-round-$r" "all ${#CROWD[@]} left and rejoined with leases in $t s: $(crowd_figures "$CROWD_RUN/round.times")${CROWD_NUDGED:+; told to reassociate: $CROWD_NUDGED}"
}

crowd_checks() {
	local n limit=${CFG[crowd_limit]:-120} rounds=${CFG[crowd_rounds]:-5} since pids rss_idle rss_on rss_after
	local few_s grown r t0 t
	read_agent || { fail crowd "no status from the agent: $(status_problem)"; return 1; }
	crowd_setup || return 1
	n=${#CROWD[@]}
	since=$(date +%s)
	CROWD_SINCE=$since
	[ "${CFG[crowd_debug]:-0}" = 1 ] &&
		"${AG_EXEC[@]}" hostapd_cli -p "$HOSTAPD_CTRL" -i "${AG_IFACE:-softap}" log_level DEBUG >/dev/null 2>&1
	pids=$(crowd_pids)
	rss_idle=$(crowd_rss "$pids")
	crowd_status
	few_s=$CROWD_STATUS_S
	info crowd-status-few "status --json with $(jq '.members | length' "$STATUS_JSON") members took $few_s s"

	crowd_clear
	t0=$EPOCHREALTIME
	crowd_each_spread crowd_enable
	if ! crowd_wait_leases "$limit"; then
		fail crowd "$n stations started within $(crowd_spread) s; no lease within $limit s for $(crowd_missing lease): $(crowd_why)${CROWD_NUDGED:+ (told to reassociate: $CROWD_NUDGED)}"
		crowd_assoc_counts 1
		info crowd-assoc "hostapd, first join: $CROWD_ASSOC"
		crowd_dump
		crowd_stop
		return 1
	fi
	local join_nudged=$CROWD_NUDGED
	[ "${CFG[crowd_debug]:-0}" = 1 ] && crowd_dump sae
	t=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
	crowd_key_mgmt
	local bad_km=$CROWD_BAD
	crowd_addresses
	crowd_times >"$CROWD_RUN/join.times"
	if [ -z "$bad_km$CROWD_BAD" ]; then
		ok crowd "$n stations ($CROWD_KM) started within $(crowd_spread) s, all leased in $AG_SUBNET after $t s; $(crowd_figures "$CROWD_RUN/join.times"); told to reassociate: ${join_nudged:-none}"
	else
		fail crowd "$bad_km$CROWD_BAD"
	fi
	info crowd-join "$(crowd_figures "$CROWD_RUN/join.times")"
	crowd_assoc_counts 1
	info crowd-assoc "hostapd, first join: $CROWD_ASSOC"

	rm -f "$CROWD_RUN/unreached"
	local up=${CROWD_UPSTREAM:-${CFG[listener_host]:-}}
	crowd_each crowd_ping_one
	if [ -s "$CROWD_RUN/unreached" ]; then
		fail crowd-ping "not reached: $(tr '\n' ';' <"$CROWD_RUN/unreached")"
	else
		ok crowd-ping "all $n stations reach the gateway $AG_GATEWAY${up:+ and the upstream $up through the NAT}"
	fi

	if ! crowd_status; then
		fail crowd-members "softap-agent status --json: $(cat "$E2E_RUN/status.err")"
	else
		local missing
		missing=$(crowd_not_members)
		if [ -z "$missing" ] && [ "$(wc -l <"$CROWD_RUN/want")" = "$n" ]; then
			ok crowd-members "status --json lists all $n as stations with their leases ($(jq '.members | length' "$STATUS_JSON") members in all; it took $CROWD_STATUS_S s, $few_s s before the crowd)"
		else
			fail crowd-members "not listed as a station with its lease: ${missing:-none}; addresses: $(tr '\n' ',' <"$CROWD_RUN/want")"
		fi
		info crowd-status-many "status --json with $(jq '.members | length' "$STATUS_JSON") members took $CROWD_STATUS_S s"
	fi

	rss_on=$(crowd_rss "$pids")
	: >"$CROWD_RUN/rejoin.times"
	CROWD_BAD=
	CROWD_NUDGES=
	t0=$EPOCHREALTIME
	for r in $(seq "$rounds"); do
		crowd_round "$r" "$limit" || break
	done
	t=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
	if [ -z "$CROWD_BAD" ]; then
		ok crowd-rejoin "$rounds rounds of all $n leaving and rejoining in $t s; over all rejoins: $(crowd_figures "$CROWD_RUN/rejoin.times"); told to reassociate: ${CROWD_NUDGES:-none}"
	else
		fail crowd-rejoin "$CROWD_BAD"
		crowd_dump
	fi
	info crowd-rejoin "$(crowd_figures "$CROWD_RUN/rejoin.times")"
	crowd_assoc_counts $((rounds + 1))
	info crowd-assoc "hostapd, first join and $rounds rounds: $CROWD_ASSOC"

	rss_after=$(crowd_rss "$pids")
	info crowd-rss "VmRSS kB, before the crowd: $rss_idle; with it: $rss_on; after $rounds rounds: $rss_after"
	info crowd-agent-log "$(journalctl -b -u softap-agent -o cat --no-pager --since "@$since" 2>/dev/null | wc -l) lines of the agent's journal during the crowd"
	grown=$(crowd_grown "$rss_on" "$rss_after")
	if [ "$(crowd_pids)" != "$pids" ]; then
		fail crowd-steady "the processes changed: $pids before, $(crowd_pids) after"
	elif [ -n "$grown" ]; then
		fail crowd-steady "VmRSS grew more than ${CROWD_RSS_FACTOR}x: $grown(before the crowd: $rss_idle)"
	else
		ok crowd-steady "the same processes throughout ($pids); VmRSS kB with the crowd on $rss_on, after $rounds rounds $rss_after"
	fi
	crowd_stop
}

# Ends every crowd station's wpa_cli and wpa_supplicant (they leave the AP).
crowd_stop() {
	local f
	for f in "$CROWD_RUN"/*-cli.pid "$CROWD_RUN"/crowd*[0-9].pid; do
		[ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	return 0
}
