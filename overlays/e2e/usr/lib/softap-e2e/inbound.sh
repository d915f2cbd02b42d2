# Scenario c (sourced by run): nothing gets in from the upstream side. The
# upstream AP's namespace plays a neighbour on the upstream network.

INBOUND_PORT=8099

# tcp_open NS ADDR PORT: prints "open" when a TCP connection is made within
# 8 s (NS "-": the root namespace).
tcp_open() {
	local run=()
	[ "$1" = - ] || run=(ip netns exec "$1")
	"${run[@]}" timeout 8 bash -c 'exec 3<>"/dev/tcp/$0/$1" && echo open' "$2" "$3" 2>/dev/null
}

# The upstream AP's namespace (netns up) routes the AP's subnet through the
# appliance's upstream address, as a neighbour on that network could, and
# tries a station's listener and the gateway's DNS: neither may open. The
# station's listener answering the appliance itself shows the check can fail.
inbound_checks() {
	local up_addr sta_addr www open=()
	up_addr=$(ip -4 -o addr show | awk '{print $4}' | cut -d/ -f1 |
		grepcidr "$UPSTREAM_WIFI_GW/$UPSTREAM_WIFI_PREFIX" | head -n1)
	sta_addr=$(ip -n sta1 -4 -br addr show dev "$(netns_iface sta1)" | awk '{print $3}')
	sta_addr=${sta_addr%/*}
	if [ -z "$up_addr" ] || [ -z "$sta_addr" ]; then
		fail inbound "no upstream address ('$up_addr') or station address ('$sta_addr')"
		return 1
	fi
	www=$E2E_RUN/www-station
	mkdir -p "$www" && echo station >"$www/index.html"
	ip netns exec sta1 busybox httpd -p "$INBOUND_PORT" -h "$www"
	if ! wait_for 10 test "$(tcp_open - "$sta_addr" "$INBOUND_PORT")" = open; then
		fail inbound "the station's listener $sta_addr:$INBOUND_PORT does not answer the appliance itself"
		return 1
	fi
	ip -n up route replace "$AG_SUBNET" via "$up_addr"
	[ "$(tcp_open up "$sta_addr" "$INBOUND_PORT")" = open ] && open+=("station $sta_addr:$INBOUND_PORT")
	[ "$(tcp_open up "$AG_GATEWAY" 53)" = open ] && open+=("gateway $AG_GATEWAY:53")
	info inbound-route "$(ip -n up -4 route show "$AG_SUBNET")"
	ip -n up route del "$AG_SUBNET" via "$up_addr" 2>/dev/null
	if [ ${#open[@]} = 0 ]; then
		ok inbound "from netns up with $AG_SUBNET via $up_addr: station $sta_addr:$INBOUND_PORT and gateway $AG_GATEWAY:53 do not open (the station's listener answers the appliance)"
	else
		fail inbound "from netns up with $AG_SUBNET via $up_addr these opened: ${open[*]}"
	fi
}

# Listening sockets of the product in the root namespace: none on the
# upstream address or on a wildcard address, but DHCP: dnsmasq's server
# (67, 547: it must hear broadcasts, and answers only on the bridge) and
# networkd's client on the upstream link (68, 546). The test's own client
# (dhclient for the uplink) is left out.
listen_checks() {
	local up_addr line bad=() local_addr proc
	up_addr=$(ip -4 -o addr show | awk '{print $4}' | cut -d/ -f1 |
		grepcidr "$UPSTREAM_WIFI_GW/$UPSTREAM_WIFI_PREFIX" | head -n1)
	while IFS= read -r line; do
		info listen "$line"
		local_addr=$(awk '{print $5}' <<<"$line")
		proc=$(sed -n 's/.*users:(("\([^"]*\)".*/\1/p' <<<"$line")
		case $proc in dhclient) continue ;; esac
		case $local_addr in
		127.* | \[::1\]:* | \[::ffff:127.*) continue ;;
		"$AG_GATEWAY":* | "$AG_GATEWAY%"*) continue ;;
		esac
		if [ "$proc" = dnsmasq ] && [[ $local_addr =~ :(67|547)$ ]]; then
			continue
		fi
		if [ "$proc" = systemd-network ] && [[ $local_addr =~ :(68|546)$ ]]; then
			continue
		fi
		# The AP's own IPv6 gateway address, when the network has IPv6, and
		# the bridge's link-local one (its router advertisements' source).
		if [ "$proc" = dnsmasq ] && [[ $local_addr =~ ^\[f[cd] ]]; then
			continue
		fi
		if [ "$proc" = dnsmasq ] && [[ $local_addr == "[fe80:"*"]%${AG_BRIDGE:-virbr0}:"* ]]; then
			continue
		fi
		bad+=("$proc on $local_addr")
	done < <(ss -Hltnup 2>/dev/null)
	if [ ${#bad[@]} = 0 ]; then
		ok listen "nothing listens on the upstream address $up_addr or a wildcard address but DHCP (dnsmasq's server, networkd's client)"
	else
		fail listen "listening beyond the AP's network: ${bad[*]}"
	fi
}
