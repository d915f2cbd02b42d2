# channel = "auto" as a credential of the agent's unit: hostapd's automatic
# channel selection picks the primary among the plan's chanlist, and the
# agent reads the channel back from hostapd into its status; then back to
# the stick's own configuration.

check_acs() {
	local d=/run/systemd/system/softap-agent.service.d chanlist ch st_ch auto
	mkdir -p "$d"
	printf '[Service]\nSetCredential=softap.channel:auto\n' >"$d/50-e2e-acs.conf"
	systemctl daemon-reload
	systemctl restart softap-agent.service
	# The agent records the channel once hostapd reports it, a moment
	# after hostapd is ENABLED: wait for the record too.
	acs_up() { agent_ready && grep -qx 'channel=acs_survey' /run/softap/hostapd.conf && [ "$(status_value .channel_auto)" = true ]; }
	if ! wait_for 120 acs_up; then
		fail acs "the AP was not up under ACS within 120 s of the agent's restart: $(status_problem); $(grep -E '^(channel|chanlist)=' /run/softap/hostapd.conf | tr '\n' ' ')"
	else
		chanlist=$(sed -n 's/^chanlist=//p' /run/softap/hostapd.conf)
		ch=$(iw dev "${AG_IFACE:-softap}" info | awk '/channel/{print $2; exit}')
		st_ch=$(status_value .channel)
		auto=$(status_value .channel_auto)
		if [ -n "$ch" ] && [[ " $chanlist " == *" $ch "* ]] && [ "$st_ch" = "$ch" ] && [ "$auto" = true ]; then
			ok acs "hostapd's ACS put the AP on channel $ch of chanlist '$chanlist'; status says channel $st_ch, picked by ACS"
		else
			fail acs "the AP is on channel '$ch', chanlist '$chanlist'; status: channel '$st_ch', channel_auto '$auto'"
		fi
	fi
	rm -f "$d/50-e2e-acs.conf"
	systemctl daemon-reload
	systemctl restart softap-agent.service
	not_acs() { agent_ready && grep -q '^channel=[0-9]' /run/softap/hostapd.conf; }
	wait_for 120 not_acs || fail acs "the AP did not come back from ACS within 120 s: $(status_problem)"
}
