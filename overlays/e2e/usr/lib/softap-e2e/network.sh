# Scenario a's network for VMs and clients (sourced by run): a libvirt
# domain on the agent's network, attached the way users attach VMs
# (`<interface type='network'>`), as a container of libvirt's LXC driver
# that shares this system's files and runs vm-init (an HTTP service, DHCP
# under its own host name). The stick's softap.toml reserves its address;
# the fw_cfg entries vm_name, vm_mac, vm_offset and fixed_offset carry the
# same values (tests/src/lan.rs). Checked: names in the network's domain,
# IPv4 and IPv6 between stations and the domain, the NAT, a host on a fixed
# address, `status --json`'s members, the domain after the agent moved the
# subnet, and isolate_clients.

VM_RUN=/var/tmp/softap-e2e-vm
# The monolithic libvirtd, which runs the agent's network too.
LXC_URI='lxc:///system?socket=/run/libvirt/libvirt-sock'
lxc() { virsh -q -c "$LXC_URI" "$@"; }
# The domain's init: the child of libvirt's controller, whose PID is the
# domain's ID.
vm_pid() {
	local id
	id=$(lxc domid "${CFG[vm_name]}" 2>/dev/null | tr -d ' ')
	[ -n "$id" ] && [ "$id" != - ] || return 1
	awk '{print $1}' "/proc/$id/task/$id/children" 2>/dev/null
}
# vm_sh SCRIPT [ARGS...]: bash inside the domain's namespaces (its files
# are this system's).
vm_sh() {
	local pid
	pid=$(vm_pid) && [ -n "$pid" ] || { echo "no process for domain ${CFG[vm_name]}" >&2; return 1; }
	nsenter -t "$pid" -m -u -i -n -p -- /bin/bash -c "$@"
}

ip_int() { awk -v a="$1" 'BEGIN{split(a,o,"."); printf "%.0f", ((o[1]*256+o[2])*256+o[3])*256+o[4]}'; }
int_ip() { awk -v x="$1" 'BEGIN{printf "%d.%d.%d.%d", int(x/16777216)%256, int(x/65536)%256, int(x/256)%256, x%256}'; }
# host_of OFFSET: that host part of the agent's current subnet.
host_of() { int_ip $(($(ip_int "${AG_SUBNET%/*}") + $1)); }

# Addresses: the first global one of a family, in a station's namespace or
# in the domain.
ns_addr() { ip -n "$1" "-$2" -o addr show dev "$(netns_iface "$1")" scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -n1; }
vm_addr() { vm_sh "ip -$1 -o addr show scope global" 2>"$E2E_RUN/vm-sh.err" | awk '{print $4}' | cut -d/ -f1 | head -n1; }
ns_mac() { ip -n "$1" -br link show dev "$(netns_iface "$1")" 2>/dev/null | awk '{print $3}'; }

# lookup NS TYPE NAME: the addresses the gateway's DNS gives NAME.
lookup() {
	ip netns exec "$1" busybox nslookup -type="$2" "$3" "$AG_GATEWAY" 2>/dev/null |
		awk '/^Name:/{n=1} n && /^Address/{print $NF}' | paste -sd ' '
}

# http_get NS ADDR HOST: the body of http://ADDR:8080/ asked from netns NS.
http_get() {
	ip netns exec "$1" timeout 15 bash -c '
		exec 3<>"/dev/tcp/$0/8080" || exit 1
		printf "GET / HTTP/1.0\r\nHost: %s\r\n\r\n" "$1" >&3
		cat <&3' "$2" "$3" 2>/dev/null | tail -n 1 | tr -d '\r'
}

# ping_from NS|vm ADDR
ping_from() {
	if [ "$1" = vm ]; then
		vm_sh 'busybox ping -c 2 -W 3 "$0"' "$2" >/dev/null 2>&1
	else
		ip netns exec "$1" busybox ping -c 2 -W 3 "$2" >/dev/null 2>&1
	fi
}

# listener_from NS|vm NAME: the harness's listener through the NAT, saying NAME.
listener_from() {
	local host=${CFG[listener_host]:-} port=${CFG[listener_port]:-} got
	if [ "$1" = vm ]; then
		got=$(vm_sh "$LISTENER_EXCHANGE" "$host" "$port" "$2" 2>&1)
	else
		got=$(ip netns exec "$1" timeout 25 bash -c "$LISTENER_EXCHANGE" "$host" "$port" "$2" 2>&1)
	fi
	[ "$got" = "SOFTAP-LISTENER ${CFG[token]:-}" ]
}

vm_start() {
	local xml=$E2E_RUN/vm.xml out
	rm -rf "$VM_RUN"
	mkdir -p "$VM_RUN"
	cat >"$xml" <<-EOF
		<domain type='lxc'>
		  <name>${CFG[vm_name]}</name>
		  <memory unit='MiB'>128</memory>
		  <os>
		    <type>exe</type>
		    <init>/usr/lib/softap-e2e/vm-init</init>
		    <initarg>${CFG[vm_name]}</initarg>
		  </os>
		  <devices>
		    <interface type='network'>
		      <source network='$NET_NAME'/>
		      <mac address='${CFG[vm_mac]}'/>
		    </interface>
		    <console type='pty'/>
		  </devices>
		</domain>
	EOF
	if ! out=$(lxc create "$xml" 2>&1); then
		fail vm "virsh -c $LXC_URI create: $(tr '\n' ' ' <<<"$out")"
		return 1
	fi
	if ! wait_for 60 grep -q ' up on ' "$VM_RUN/init.log"; then
		fail vm "the domain's init did not finish in 60 s: $(tail -n 5 "$VM_RUN/init.log" 2>&1 | tr '\n' ' ')"
		return 1
	fi
	ok vm "libvirt LXC domain ${CFG[vm_name]} on network $NET_NAME: $(lxc domiflist "${CFG[vm_name]}" 2>&1 | awk '{print $1, $2, $3, $5}' | paste -sd ' ')"
}

vm_leases() {
	local want
	want=$(host_of "${CFG[vm_offset]}")
	have_v4() { VM_V4=$(vm_addr 4) && [ "$VM_V4" = "$want" ]; }
	if ! wait_for 60 have_v4; then
		fail vm-lease "the domain has '$VM_V4', not its reserved $want, 60 s after it started: $(tail -n 4 "$VM_RUN/dhcp4.log" 2>&1 | tr '\n' ' '); asking it: $(tr '\n' ' ' <"$E2E_RUN/vm-sh.err")"
		return 1
	fi
	if [ -z "$NET6" ]; then
		fail vm-lease "the agent's network has no IPv6 (status: $(status_value .ipv6)); plan says: $(softap-agent plan 2>&1 | grep -i ipv6 | head -n 2 | tr '\n' ' ')"
		return 1
	fi
	have_v6() { VM_V6=$(vm_addr 6) && [ -n "$VM_V6" ] && in_subnet "$VM_V6" "$NET6"; }
	if ! wait_for 60 have_v6; then
		fail vm-lease "no DHCPv6 address of $NET6 in the domain within 60 s ('$VM_V6'): $(tail -n 4 "$VM_RUN/dhcp6.log" 2>&1 | tr '\n' ' ')"
		return 1
	fi
	ok vm-lease "${CFG[vm_name]} ${CFG[vm_mac]}: $VM_V4 (offset ${CFG[vm_offset]} of $AG_SUBNET, reserved), $VM_V6 (DHCPv6 in $NET6)"
}

# station_v6 NS NAME: a DHCPv6 lease under host name NAME, and the router
# advertisement's default route; the address in STATION_V6.
station_v6() {
	local ns=$1 name=$2 iface addr
	STATION_V6=
	iface=$(netns_iface "$ns")
	wait_for 10 sh -c "ip -n $ns -6 addr show dev $iface scope link | grep -q inet6 && ! ip -n $ns -6 addr show dev $iface | grep -q tentative"
	printf 'send fqdn.fqdn "%s";\n' "$name" >"$E2E_RUN/$name-dhclient6.conf"
	ip netns exec "$ns" timeout 50 dhclient -6 -1 -v -cf "$E2E_RUN/$name-dhclient6.conf" \
		-sf /usr/lib/softap-e2e/dhclient.script -lf "$E2E_RUN/$name.leases6" \
		-pf "$E2E_RUN/$name-dhclient6.pid" "$iface" >"$E2E_RUN/$name-dhcp6.log" 2>&1
	addr=$(ns_addr "$ns" 6)
	if [ -z "$addr" ] || ! in_subnet "$addr" "$NET6"; then
		fail "$name-ipv6" "no DHCPv6 address of $NET6 on $iface in $ns ('$addr'): $(tail -n 4 "$E2E_RUN/$name-dhcp6.log" | tr '\n' ' ')"
		return 1
	fi
	if ! wait_for 20 sh -c "ip -n $ns -6 route show default | grep -q via"; then
		fail "$name-ipv6" "$addr, but no default route from a router advertisement in 20 s: $(ip -n "$ns" -6 route | tr '\n' '|')"
		return 1
	fi
	ok "$name-ipv6" "$addr in $NET6, $(ip -n "$ns" -6 route show default | head -n1)"
	STATION_V6=$addr
}

check_names() {
	local a aaaa sta
	a=$(lookup sta1 a "${CFG[vm_name]}.$NET_DOMAIN")
	aaaa=$(lookup sta1 aaaa "${CFG[vm_name]}.$NET_DOMAIN")
	sta=$(lookup sta1 a "wpa2.$NET_DOMAIN")
	VM_NAME_V4=${a%% *}
	VM_NAME_V6=${aaaa%% *}
	if [ "$VM_NAME_V4" = "$VM_V4" ] && [ "$VM_NAME_V6" = "$VM_V6" ] && [ "$sta" = "$STA1_V4" ]; then
		ok vm-name "from a station, via the gateway's DNS: ${CFG[vm_name]}.$NET_DOMAIN A $a, AAAA $aaaa; wpa2.$NET_DOMAIN A $sta"
	else
		fail vm-name "${CFG[vm_name]}.$NET_DOMAIN A '$a' (want $VM_V4), AAAA '$aaaa' (want $VM_V6); wpa2.$NET_DOMAIN A '$sta' (want $STA1_V4)"
	fi
}

check_http() {
	local got
	got=$(http_get sta1 "${VM_NAME_V4:-$VM_V4}" "${CFG[vm_name]}.$NET_DOMAIN")
	if [ "$got" = "${CFG[vm_name]}" ]; then
		ok vm-http4 "station -> http://${CFG[vm_name]}.$NET_DOMAIN:8080/ ($VM_V4) answered '$got'"
	else
		fail vm-http4 "station -> http://$VM_V4:8080/: '$got'"
	fi
	got=$(http_get sta1 "${VM_NAME_V6:-$VM_V6}" "${CFG[vm_name]}.$NET_DOMAIN")
	if [ "$got" = "${CFG[vm_name]}" ]; then
		ok vm-http6 "station -> http://[$VM_V6]:8080/ answered '$got'"
	else
		fail vm-http6 "station -> http://[$VM_V6]:8080/: '$got'"
	fi
}

network_checks() {
	NET_NAME=$(status_value .network)
	NET_DOMAIN=$(status_value .domain)
	NET6=$(status_value .ipv6)
	STA1_V4=$(ns_addr sta1 4)
	STA2_V4=$(ns_addr sta2 4)
	vm_start || return
	vm_leases || return
	station_v6 sta1 wpa2
	STA1_V6=$STATION_V6
	check_names
	check_http
	if ping_from vm "$STA1_V4" && { [ -z "$STA1_V6" ] || ping_from vm "$STA1_V6"; }; then
		ok vm-to-station "the domain pings the WPA2 station at $STA1_V4 and ${STA1_V6:-(no IPv6)}"
	else
		fail vm-to-station "the domain does not reach the station at $STA1_V4 / ${STA1_V6:-no IPv6}"
	fi
	if ping_from sta1 "$STA2_V4" && ping_from sta2 "$STA1_V4"; then
		ok stations "the WPA2 station ($STA1_V4) and the SAE station ($STA2_V4) ping each other"
	else
		fail stations "the two stations ($STA1_V4, $STA2_V4) do not reach each other"
	fi
	if listener_from vm "${CFG[vm_name]}"; then
		ok vm-nat "the domain reached ${CFG[listener_host]}:${CFG[listener_port]} through the NAT"
	else
		fail vm-nat "the domain did not reach ${CFG[listener_host]}:${CFG[listener_port]} through the NAT"
	fi
	check_fixed
	check_members
}

# The SAE station leaves DHCP for an address of the fixed range.
check_fixed() {
	local fixed start iface
	fixed=$(host_of "${CFG[fixed_offset]}")
	start=$(status_value .dhcp_start)
	if [ "$(ip_int "$fixed")" -ge "$(ip_int "$start")" ]; then
		fail fixed "$fixed is not below the DHCP range starting at $start"
		return 1
	fi
	iface=$(netns_iface sta2)
	[ -f "$E2E_RUN/sae-dhclient.pid" ] && kill "$(cat "$E2E_RUN/sae-dhclient.pid")" 2>/dev/null
	ip -n sta2 -4 addr flush dev "$iface"
	ip -n sta2 addr add "$fixed/$AG_PREFIX" dev "$iface"
	ip -n sta2 route replace default via "$AG_GATEWAY" dev "$iface"
	if ping_from vm "$fixed" && ping_from sta2 "$VM_V4"; then
		ok fixed "the SAE station at $fixed (fixed range; DHCP from $start) and the domain reach each other"
	else
		fail fixed "the SAE station at $fixed and the domain at $VM_V4 do not reach each other"
	fi
}

check_members() {
	local dom mac1 mac2 problems=()
	if ! agent_status; then
		fail members "softap-agent status --json: $(cat "$E2E_RUN/status.err")"
		return 1
	fi
	dom=$(jq -c --arg n "${CFG[vm_name]}" '[.members[] | select(.kind == "domain" and .domain == $n)] | first // empty' "$STATUS_JSON")
	[ -n "$dom" ] || problems+=("no domain ${CFG[vm_name]}")
	jq -e --arg a "$VM_V4" '.ipv4 | index($a)' <<<"${dom:-null}" >/dev/null 2>&1 || problems+=("domain without $VM_V4")
	jq -e --arg a "$VM_V6" '[.members[].ipv6[]] | index($a)' "$STATUS_JSON" >/dev/null 2>&1 || problems+=("no member with $VM_V6")
	mac1=$(ns_mac sta1)
	mac2=$(ns_mac sta2)
	jq -e --arg m "$mac1" --arg a "$STA1_V4" '.members[] | select(.kind == "station" and .mac == $m) | .ipv4 | index($a)' "$STATUS_JSON" >/dev/null 2>&1 ||
		problems+=("no station $mac1 with $STA1_V4")
	jq -e --arg m "$mac2" '.members[] | select(.kind == "station" and .mac == $m)' "$STATUS_JSON" >/dev/null 2>&1 ||
		problems+=("no station $mac2")
	if [ ${#problems[@]} = 0 ]; then
		ok members "status --json: $(jq -c '[.members[] | {kind, mac, domain, hostname, ipv4, ipv6}]' "$STATUS_JSON")"
	else
		fail members "$(IFS=';'; echo "${problems[*]}"): $(jq -c '{members, members_errors}' "$STATUS_JSON")"
	fi
}

# After the agent moved to another subnet: the domain's DHCP client asks
# again (as a VM's would at its next renewal), gets the reserved host part of
# the new subnet, its name follows, and a station reaches it.
network_after_watch() {
	local want a got
	read_agent || { fail watch-vm "no status after the re-plan: $(status_problem)"; return 1; }
	want=$(host_of "${CFG[vm_offset]}")
	vm_sh '/usr/lib/softap-e2e/vm-init "$0" lease' "${CFG[vm_name]}" >/dev/null 2>&1
	have_new() { VM_V4=$(vm_addr 4) && [ "$VM_V4" = "$want" ]; }
	if ! wait_for 60 have_new; then
		fail watch-vm "the domain has '$VM_V4', not $want of $AG_SUBNET, 60 s after asking DHCP again: $(tail -n 4 "$VM_RUN/dhcp4.log" 2>&1 | tr '\n' ' '); bridge ports: $(ls "/sys/class/net/$AG_BRIDGE/brif" 2>&1 | tr '\n' ' ')"
		return 1
	fi
	a=$(lookup sta1 a "${CFG[vm_name]}.$NET_DOMAIN")
	got=$(http_get sta1 "${a%% *}" "${CFG[vm_name]}.$NET_DOMAIN")
	# libvirt knows the domain's port again (the agent gave it back).
	local port=no
	agent_status && jq -e --arg n "${CFG[vm_name]}" '.members[] | select(.kind == "domain" and .domain == $n)' "$STATUS_JSON" >/dev/null 2>&1 && port=yes
	if [ "${a%% *}" = "$want" ] && [ "$got" = "${CFG[vm_name]}" ] && [ "$port" = yes ]; then
		ok watch-vm "on $AG_SUBNET the domain is $want again (offset ${CFG[vm_offset]}), ${CFG[vm_name]}.$NET_DOMAIN resolves to it, the station's GET answers '$got', status lists it as a domain"
	else
		fail watch-vm "on $AG_SUBNET: ${CFG[vm_name]}.$NET_DOMAIN A '$a' (want $want), GET '$got', listed as a domain: $port ($(jq -c '.members' "$STATUS_JSON" 2>&1))"
	fi
}

# isolate_clients = true, as a credential of the agent's unit: stations no
# longer reach each other, but still the gateway, the upstream and the domain.
network_isolate() {
	local d=/run/systemd/system/softap-agent.service.d v1 v2 problems=()
	mkdir -p "$d"
	printf '[Service]\nSetCredential=softap.isolate_clients:true\n' >"$d/50-e2e-isolate.conf"
	systemctl daemon-reload
	systemctl restart softap-agent.service
	isolated() { agent_ready && grep -qx 'ap_isolate=1' /run/softap/hostapd.conf; }
	if ! wait_for 120 isolated; then
		fail isolate "the AP was not back with ap_isolate=1 within 120 s of the agent's restart: $(status_problem)"
		return 1
	fi
	if ! wait_for 40 associated wpa2 sta1 || ! wait_for 40 associated sae sta2; then
		fail isolate "the stations did not reassociate within 40 s"
		return 1
	fi
	local pf
	for pf in "$E2E_RUN"/wpa2*-dhclient.pid "$E2E_RUN"/sae*-dhclient.pid; do
		[ -f "$pf" ] && kill "$(cat "$pf")" 2>/dev/null
	done
	dhcp sta1 "$(netns_iface sta1)" iso-wpa2
	dhcp sta2 "$(netns_iface sta2)" iso-sae
	v1=$(ns_addr sta1 4)
	v2=$(ns_addr sta2 4)
	{ [ -n "$v1" ] && [ -n "$v2" ]; } || { fail isolate "leases after the restart: '$v1' '$v2'"; return 1; }
	ping_from sta1 "$AG_GATEWAY" || problems+=("station 1 does not reach the gateway")
	ping_from sta2 "$AG_GATEWAY" || problems+=("station 2 does not reach the gateway")
	ping_from sta1 "$v2" && problems+=("station 1 reaches station 2")
	ping_from sta2 "$v1" && problems+=("station 2 reaches station 1")
	listener_from sta1 iso-wpa2 || problems+=("station 1 does not reach the upstream listener")
	listener_from sta2 iso-sae || problems+=("station 2 does not reach the upstream listener")
	ping_from vm "$v1" || problems+=("the domain does not reach station 1")
	if [ ${#problems[@]} = 0 ]; then
		ok isolate "stations $v1 and $v2 do not reach each other; both reach the gateway and the upstream, the domain reaches them"
	else
		fail isolate "$(IFS=';'; echo "${problems[*]}")"
	fi
	# Back to the stick's own configuration, so that the next boot of this
	# stick (scenario b) starts from the network a fresh one would have.
	rm -f "$d/50-e2e-isolate.conf"
	systemctl daemon-reload
	systemctl restart softap-agent.service
	not_isolated() { agent_ready && ! grep -qx 'ap_isolate=1' /run/softap/hostapd.conf; }
	wait_for 120 not_isolated || fail isolate "the AP did not come back without isolation within 120 s: $(status_problem)"
}
