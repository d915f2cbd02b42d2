# What softap-agent brought up: its own report (`softap-agent status --json`,
# read with jq) and, to check it against, the running system (the AP
# interface's phy, the bridge's address, hostapd's state over its control
# socket). Everything about the agent's output is in this file.

HOSTAPD_CTRL=/run/hostapd
STATUS_JSON=$E2E_RUN/status.json
# Scenario d: the agent runs in a container; AG_EXEC runs a command inside it.
AG_EXEC=()

# agent_in_container PID: ask the agent in the container whose init is PID.
agent_in_container() {
	AG_EXEC=(nsenter -t "$1" -m -u -i -p --)
}

# Asks the agent for its status; keeps it in $STATUS_JSON (its complaint in
# $E2E_RUN/status.err). Fails until the agent has applied once. With
# `--root /`, only the agent's own record: it then skips asking hostapd and
# systemd, which takes seconds under TCG, and suits a tight poll.
agent_status() {
	local json
	json=$("${AG_EXEC[@]}" softap-agent status --json "$@" 2>"$E2E_RUN/status.err") || return 1
	printf '%s\n' "$json" >"$STATUS_JSON"
}

# status_value FILTER: jq FILTER over the last status, raw; empty for null.
status_value() { jq -r "($1) // empty" "$STATUS_JSON" 2>/dev/null; }

# Fills, from the agent's status, AG_SUBNET AG_PREFIX AG_GATEWAY AG_DHCP_END
# AG_BRIDGE AG_IFACE AG_SSID_HEX AG_PASSPHRASE AG_SECURITY and, from the
# system, AG_PHY (the AP interface's) and AG_BRIDGE_ADDR (the bridge's
# address/prefix); returns 1 while something is missing.
read_agent() {
	agent_status || return 1
	AG_SUBNET=$(status_value .subnet)
	AG_PREFIX=${AG_SUBNET#*/}
	AG_GATEWAY=$(status_value .gateway)
	AG_DHCP_END=$(status_value .dhcp_end)
	AG_BRIDGE=$(status_value .bridge)
	AG_IFACE=$(status_value .interface)
	# wpa_supplicant takes the SSID in hex: any bytes, no quoting.
	AG_SSID_HEX=$(jq -j '.ssid // empty' "$STATUS_JSON" 2>/dev/null | od -An -tx1 | tr -d ' \n')
	AG_PASSPHRASE=$(status_value .passphrase)
	AG_SECURITY=$(status_value .security)
	AG_PHY=$(iw dev "$AG_IFACE" info 2>/dev/null | awk '$1=="wiphy"{print "phy"$2}')
	AG_BRIDGE_ADDR=$(ip -4 -br addr show dev "$AG_BRIDGE" 2>/dev/null | awk '{print $3}')
	[ -n "$AG_IFACE" ] && [ -n "$AG_SSID_HEX" ] && [ -n "$AG_PASSPHRASE" ] &&
		[ -n "$AG_SUBNET" ] && [ -n "$AG_GATEWAY" ] && [ -n "$AG_DHCP_END" ] &&
		[ -n "$AG_BRIDGE_ADDR" ] && [ -n "$AG_PHY" ]
}

# Why the last status could not be had, or what it lacked, on one line.
status_problem() {
	if ! agent_status; then
		printf 'softap-agent status --json failed: %s' "$(tr '\n' ' ' <"$E2E_RUN/status.err")"
	else
		printf 'softap-agent status --json: %s' "$(jq -c '{subnet, gateway, bridge, interface, security, changed_files, waiting_for, waiting_reason, watch_action}' "$STATUS_JSON" 2>&1)"
	fi
}

# hostapd's own STATUS over its control socket.
hostapd_state() {
	# Inside the container's mount namespace: hostapd answers on the client's
	# socket path, which it resolves in its own namespace.
	"${AG_EXEC[@]}" hostapd_cli -p "$HOSTAPD_CTRL" -i "${AG_IFACE:-softap}" status 2>/dev/null | sed -n 's/^state=//p'
}

ap_enabled() { [ "$(hostapd_state)" = ENABLED ]; }
agent_ready() { read_agent && ap_enabled; }
