# What softap-agent brought up, read from the running system: the hostapd
# configuration it rendered (SSID, passphrase, security, interface, bridge),
# the AP interface's phy, the bridge's address, and the subnet the agent
# reports. Everything about the agent's files and output is in this file.

HOSTAPD_CONF=/run/softap/hostapd.conf
HOSTAPD_CTRL=/run/hostapd
# Scenario d: the agent runs in a container; AG_ROOT is its root as this
# namespace sees it (/proc/PID/root) and AG_EXEC runs a command inside it.
AG_ROOT=
AG_EXEC=()

# agent_in_container PID: read the agent's files and output in the container
# whose init is PID.
agent_in_container() {
	AG_ROOT=/proc/$1/root
	AG_EXEC=(nsenter -t "$1" -m -u -i -p --)
	HOSTAPD_CONF=$AG_ROOT/run/softap/hostapd.conf
}

conf_value() { sed -n "s/^$1=//p" "$HOSTAPD_CONF" 2>/dev/null | head -n1; }

# The subnet from `softap-agent status --json`, else the state file (which
# one: $E2E_RUN/subnet-from; this runs in a subshell).
agent_subnet() {
	local json
	json=$("${AG_EXEC[@]}" softap-agent status --json 2>/dev/null)
	if [ -n "$json" ]; then
		printf '%s\n' "$json" >"$E2E_RUN/status.json"
		echo "softap-agent status --json" >"$E2E_RUN/subnet-from"
	else
		json=$(cat "$AG_ROOT/var/lib/softap/state.json" 2>/dev/null)
		echo "$AG_ROOT/var/lib/softap/state.json" >"$E2E_RUN/subnet-from"
	fi
	printf '%s' "$json" | tr -d '\n' | grep -o '"subnet" *: *"[0-9./]*"' | head -n1 | sed 's/.*"\([0-9./]*\)"$/\1/'
}

# Fills AG_IFACE AG_BRIDGE AG_SSID_HEX AG_PASSPHRASE AG_KEY_MGMT AG_PHY
# AG_SUBNET AG_GATEWAY; returns 1 while something is missing.
read_agent() {
	[ -r "$HOSTAPD_CONF" ] || return 1
	AG_IFACE=$(conf_value interface)
	AG_BRIDGE=$(conf_value bridge)
	AG_SSID_HEX=$(conf_value ssid2)
	if [ -z "$AG_SSID_HEX" ]; then
		AG_SSID_HEX=$(conf_value ssid | tr -d '\n' | od -An -tx1 | tr -d ' \n')
	fi
	AG_PASSPHRASE=$(conf_value wpa_passphrase)
	AG_KEY_MGMT=$(conf_value wpa_key_mgmt)
	AG_PHY=$(iw dev "$AG_IFACE" info 2>/dev/null | awk '$1=="wiphy"{print "phy"$2}')
	AG_SUBNET=$(agent_subnet)
	AG_GATEWAY=$(ip -4 -br addr show dev "$AG_BRIDGE" 2>/dev/null | awk '{print $3}' | cut -d/ -f1)
	[ -n "$AG_IFACE" ] && [ -n "$AG_SSID_HEX" ] && [ -n "$AG_PASSPHRASE" ] &&
		[ -n "$AG_SUBNET" ] && [ -n "$AG_GATEWAY" ] && [ -n "$AG_PHY" ]
}

# The agent has decided to move away from subnet $1 (its journal since epoch
# second $2 says "subnet OLD -> NEW"); prints NEW.
agent_replanned() {
	journalctl -u softap-agent --since "@$2" -o cat --no-pager 2>/dev/null |
		grep -o "subnet $1 -> [0-9./]*" | head -n1 | sed 's/.*-> //'
}

# hostapd's own STATUS over its control socket.
hostapd_state() {
	# Inside the container's mount namespace: hostapd answers on the client's
	# socket path, which it resolves in its own namespace.
	"${AG_EXEC[@]}" hostapd_cli -p "$HOSTAPD_CTRL" -i "${AG_IFACE:-softap}" status 2>/dev/null | sed -n 's/^state=//p'
}

ap_enabled() { [ "$(hostapd_state)" = ENABLED ]; }
agent_ready() { read_agent && ap_enabled; }
