# Reading what softap-agent chose. Everything about the agent's output format
# is in this file, so a change there is a change here only.

# Fills AG_PHY AG_SUBNET AG_GATEWAY AG_SSID AG_PASSPHRASE AG_CHANNEL AG_IFACE
# from `softap-agent status --json`; returns 1 when it is not available yet.
read_agent() {
	local json
	json=$(softap-agent status --json 2>/dev/null) || return 1
	[ -n "$json" ] || return 1
	printf '%s\n' "$json" >"$E2E_RUN/status.json"
	AG_PHY=$(jq -r '.phy // .plan.phy // .state.phy // empty' <<<"$json")
	AG_SUBNET=$(jq -r '.subnet // .plan.subnet // .state.subnet // empty' <<<"$json")
	AG_GATEWAY=$(jq -r '.gateway // .plan.gateway // .state.gateway // empty' <<<"$json")
	AG_SSID=$(jq -r '.ssid // .plan.ssid // .state.ssid // empty' <<<"$json")
	AG_PASSPHRASE=$(jq -r '.passphrase // .plan.passphrase // .state.passphrase // empty' <<<"$json")
	AG_CHANNEL=$(jq -r '.channel // .plan.channel // .state.channel // empty' <<<"$json")
	AG_IFACE=$(jq -r '.interface // .plan.interface // "softap"' <<<"$json")
	[ -n "$AG_GATEWAY" ] || { [ -n "$AG_SUBNET" ] && AG_GATEWAY=$(host_in "$AG_SUBNET" 1); }
	[ -n "$AG_SUBNET" ] && [ -n "$AG_SSID" ] && [ -n "$AG_PASSPHRASE" ]
}

# hostapd's control socket directory for the AP interface.
hostapd_ctrl_dir() {
	local sock
	sock=$(find /run /var/run -maxdepth 3 -type s -name "${AG_IFACE:-softap}" 2>/dev/null | head -n1)
	[ -n "$sock" ] && dirname "$sock"
}

# hostapd's own STATUS over its control socket.
hostapd_state() {
	local dir
	dir=$(hostapd_ctrl_dir) || return 1
	hostapd_cli -p "$dir" -i "${AG_IFACE:-softap}" status 2>/dev/null | sed -n 's/^state=//p'
}

ap_enabled() { [ "$(hostapd_state)" = ENABLED ]; }
agent_ready() { read_agent && ap_enabled; }
