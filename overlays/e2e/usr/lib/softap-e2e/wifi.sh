# Sourced by run. The agent names the AP phy's driver and its module (read
# from sysfs), and the disk carries the Wi-Fi coverage report the builder
# wrote, listing the hwsim driver among the kernel's Wi-Fi drivers.

check_driver() {
	local json driver module report=/usr/share/softap/wifi-coverage.txt
	json=$(softap-agent detect --json 2>/dev/null)
	driver=$(jq -r --arg p "$AG_PHY" '.phys[]? | select(.name == $p) | .driver // ""' <<<"$json")
	module=$(jq -r --arg p "$AG_PHY" '.phys[]? | select(.name == $p) | .module // ""' <<<"$json")
	if [ "$driver" != mac80211_hwsim ] || [ "$module" != mac80211_hwsim ]; then
		fail driver "detect says phy '$AG_PHY' has driver '$driver' and module '$module', not mac80211_hwsim"
	elif ! grep -q '^module mac80211_hwsim ' "$report" 2>/dev/null; then
		fail driver "$report does not list mac80211_hwsim: $(head -c 300 "$report" 2>&1 | tr '\n' ' ')"
	else
		ok driver "$AG_PHY: driver and module mac80211_hwsim; $(grep -m1 '^totals' "$report")"
	fi
}
