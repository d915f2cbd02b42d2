# Scenario e, on the desktop host image (images/softap-desktop-e2e.toml):
# NetworkManager joins the upstream Wi-Fi AP (hostapd in netns up) with the
# radio the appliance will share, the firewall's FORWARD policy is DROP, and
# the product's OCI archive runs with README.md's podman command (given by
# the harness, read from README.md). The host is snapshotted before the
# container starts and after it stops: the two must be equal. Sourced by
# `run`, whose checks (join, lease, nat, wait_agent) it uses.

DESKTOP_WORK=/var/tmp/softap-desktop
DESKTOP_NAME=softap

# What "the host as it was" means: links, addresses, routes, the firewall
# (without counters) and NetworkManager's devices. Lifetimes of IPv6 routes
# count down and are left out. So is `p2p-dev-softap`: NetworkManager's own
# Wi-Fi P2P helper for the AP interface, which it makes when it sees the
# interface before the agent marks it unmanaged, and which it sometimes
# keeps, "unavailable", after the interface is gone (a known gap).
host_snapshot() {
	{
		echo "== ip -br link"; ip -br link
		echo "== ip -br addr"; ip -br addr
		echo "== ip route show table all"; ip route show table all | sed -E 's/ expires [0-9]+sec//'
		echo "== nft list ruleset"; nft list ruleset | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
		echo "== nmcli -t device"; nmcli -t device | grep -v '^p2p-dev-softap:'
	} >"$1" 2>&1
}

# host_as_before CHECK WHEN: the host now against the snapshot taken before
# the first start, reported as CHECK; WHEN says after what. NetworkManager's
# P2P helpers left out of the comparison are counted.
host_as_before() {
	local check=$1 when=$2
	host_snapshot "$E2E_RUN/host-after-$check"
	info "$check-nm-p2p-leftovers" "$(nmcli -t device | grep -c '^p2p-dev-softap:')"
	if diff -u "$E2E_RUN/host-before" "$E2E_RUN/host-after-$check" >"$E2E_RUN/host-$check.diff"; then
		ok "$check" "after $when: links, addresses, routes, nft ruleset and NetworkManager's devices as before"
	else
		fail "$check" "after $when the host changed: $(tail -n +3 "$E2E_RUN/host-$check.diff" | grep '^[-+]' | head -n 20 | tr '\n' '|')"
	fi
}

# The README's podman command as words (it has no quotes), with its
# archive path under $DESKTOP_WORK.
readme_words() {
	local cmd=${CFG[podman_run]:-}
	[ -n "$cmd" ] || return 1
	read -ra RUN_WORDS <<<"$cmd"
}

podman_run_readme() {
	(cd "$DESKTOP_WORK" && "${RUN_WORDS[@]}") >"$E2E_RUN/podman-run.log" 2>&1
}

nm_state() { nmcli -t -f DEVICE,STATE device 2>/dev/null | awk -F: -v d="$1" '$1==d{print $2}'; }

desktop_uplink() {
	local sta_if
	sta_if=$(iface_of_phy "$(cat "$E2E_RUN/appliance-phy")")
	DESKTOP_STA=$sta_if
	if ! wait_for 60 test -n "$(nm_state "$sta_if")"; then
		fail uplink "NetworkManager does not list $sta_if: $(nmcli -t device 2>&1 | tr '\n' ' ')"
		return 1
	fi
	# NetworkManager connects only to a network its last scan saw; the
	# upstream AP may have started after that scan.
	seen_upstream() {
		nmcli device wifi rescan ifname "$sta_if" >/dev/null 2>&1
		sleep 2
		nmcli -t -f SSID device wifi list ifname "$sta_if" 2>/dev/null | grep -qx softap-e2e-upstream
	}
	if ! wait_for 90 seen_upstream; then
		fail uplink "NetworkManager's scans on $sta_if never listed softap-e2e-upstream: $(nmcli -t -f SSID,CHAN device wifi list ifname "$sta_if" 2>&1 | tr '\n' ' ')"
		return 1
	fi
	# A connection spelled out, as a desktop's saved network is: `nmcli device
	# wifi connect` guesses the key management from the scan and can miss it
	# ("key-mgmt: property is missing").
	if ! nmcli connection add type wifi ifname "$sta_if" con-name upstream ssid softap-e2e-upstream \
		wifi-sec.key-mgmt wpa-psk wifi-sec.psk upstream-passphrase-e2e >"$E2E_RUN/nm-connect.log" 2>&1 ||
		! nmcli --wait 90 connection up upstream >>"$E2E_RUN/nm-connect.log" 2>&1; then
		fail uplink "nmcli connection up on $sta_if: $(tail -n 3 "$E2E_RUN/nm-connect.log" | tr '\n' ' ')"
		return 1
	fi
	if ! wait_for 60 sh -c "ip -4 -br addr show dev $sta_if | grep -q 192.168.77."; then
		fail uplink "NetworkManager connected $sta_if but it has no upstream address"
		return 1
	fi
	ok uplink "NetworkManager joined the upstream AP on $sta_if: $(ip -4 -br addr show dev "$sta_if" | awk '{print $3}')"
}

desktop_start() {
	local dev=/dev/disk/by-id/virtio-softap-oci t0 t1
	readme_words || { fail container "no podman_run in the fw_cfg entry"; return 1; }
	if ! wait_for 30 test -b "$dev"; then
		fail container "no OCI archive disk $dev"
		return 1
	fi
	mkdir -p "$DESKTOP_WORK/out"
	[ -f "$DESKTOP_WORK/out/softap.oci.tar" ] || cp "$dev" "$DESKTOP_WORK/out/softap.oci.tar"
	t0=$(date +%s%N)
	if ! podman_run_readme; then
		fail container "README's command failed: ${RUN_WORDS[*]}: $(tail -n 5 "$E2E_RUN/podman-run.log" | tr '\n' ' ')"
		return 1
	fi
	AG_EXEC=(podman exec "$DESKTOP_NAME")
	if ! wait_agent; then
		podman logs "$DESKTOP_NAME" 2>&1 | tail -n 80 | sed 's/^/E2E-DIAG /' >"$E2E_TTY"
		return 1
	fi
	t1=$(date +%s%N)
	info start-to-ap-seconds "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)/1e9}')"
}

desktop_stop() {
	local t0 t1
	# What the agent did, for the record (the container's journal goes with it).
	podman exec "$DESKTOP_NAME" journalctl --no-pager -o short-monotonic -u softap-agent 2>&1 |
		grep -E 'step=' | tail -n 12 | sed 's/^/E2E-AGENT /' >"$E2E_TTY"
	t0=$(date +%s%N)
	podman stop "$DESKTOP_NAME" >"$E2E_RUN/podman-stop.log" 2>&1
	t1=$(date +%s%N)
	info stop-seconds "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)/1e9}')"
	podman rm "$DESKTOP_NAME" >/dev/null 2>&1
}

# refused_without_privileged CHECK RUNTIME WORDS...: the run command WORDS
# without --privileged must be out within seconds, non-zero, with one line
# naming the flag. RUNTIME (podman, docker) waits for it and reads its log.
refused_without_privileged() {
	local check=$1 runtime=$2 words=() w rc t0 t1 logs skip=
	shift 2
	for w in "$@"; do
		# A restart policy would start the refused container again and again.
		[ -n "$skip" ] && { skip=; continue; }
		[ "$w" = --restart ] && { skip=1; continue; }
		[ "$w" = --privileged ] && continue
		[ "$w" = "$DESKTOP_NAME" ] && w=softap-unprivileged
		words+=("$w")
	done
	t0=$(date +%s)
	(cd "$DESKTOP_WORK" && "${words[@]}") >"$E2E_RUN/$check.log" 2>&1
	rc=$(timeout 60 "$runtime" wait softap-unprivileged 2>/dev/null)
	t1=$(date +%s)
	logs=$("$runtime" logs softap-unprivileged 2>&1)
	"$runtime" rm -f softap-unprivileged >/dev/null 2>&1
	if [ -n "$rc" ] && [ "$rc" != 0 ] && [ $((t1 - t0)) -le 30 ] &&
		[ "$(printf '%s\n' "$logs" | wc -l)" = 1 ] && grep -q -- '--privileged' <<<"$logs"; then
		ok "$check" "exit status $rc after $((t1 - t0)) s: $logs"
	else
		fail "$check" "exit status '$rc' after $((t1 - t0)) s; logs: $(tr '\n' ' ' <<<"$logs" | cut -c1-400); $(tail -n 3 "$E2E_RUN/$check.log" | tr '\n' ' ')"
	fi
}

# The same with README.md's Docker commands (given by the harness): dockerd
# has run since boot, with its own rules and docker0, as on a developer's
# desktop. Check names start with docker-; the station is dwpa2.
desktop_docker() {
	local t0 t1 out
	if [ -z "${CFG[docker_load]:-}" ] || [ -z "${CFG[docker_run]:-}" ]; then
		fail docker-load "no docker_load/docker_run in the fw_cfg entry"
		return 1
	fi
	read -ra DOCKER_LOAD <<<"${CFG[docker_load]}"
	read -ra DOCKER_RUN <<<"${CFG[docker_run]}"
	if ! wait_for 60 systemctl is-active -q docker.service; then
		fail docker-load "dockerd is not running: $(systemctl status --no-pager docker.service 2>&1 | tail -n 5 | tr '\n' ' ')"
		return 1
	fi
	t0=$(date +%s%N)
	if ! out=$(cd "$DESKTOP_WORK" && "${DOCKER_LOAD[@]}" 2>&1); then
		fail docker-load "README's command failed: ${DOCKER_LOAD[*]}: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
		return 1
	fi
	t1=$(date +%s%N)
	ok docker-load "${DOCKER_LOAD[*]}: $(tail -n 1 <<<"$out") ($(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)/1e9}') s)"
	t0=$(date +%s%N)
	if ! (cd "$DESKTOP_WORK" && "${DOCKER_RUN[@]}") >"$E2E_RUN/docker-run.log" 2>&1; then
		fail docker "README's command failed: ${DOCKER_RUN[*]}: $(tail -n 5 "$E2E_RUN/docker-run.log" | tr '\n' ' ')"
		return 1
	fi
	ok docker "README's docker command: ${DOCKER_RUN[*]}"
	AG_EXEC=(docker exec "$DESKTOP_NAME")
	if ! wait_agent; then
		fail docker-ap "the AP did not come up in the Docker container"
		docker logs "$DESKTOP_NAME" 2>&1 | tail -n 80 | sed 's/^/E2E-DIAG /' >"$E2E_TTY"
		docker rm -f "$DESKTOP_NAME" >/dev/null 2>&1
		return 1
	fi
	t1=$(date +%s%N)
	info docker-start-to-ap-seconds "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)/1e9}')"
	ok docker-ap "hostapd state=ENABLED in the Docker container, subnet $AG_SUBNET"
	if [ "$(nm_state "$AG_IFACE")" = unmanaged ]; then
		ok docker-nm-unmanaged "nmcli: $AG_IFACE unmanaged while the AP runs"
	else
		fail docker-nm-unmanaged "nmcli says $AG_IFACE is '$(nm_state "$AG_IFACE")'"
	fi
	join dwpa2 sta1 wpa2 && lease dwpa2 sta1 docker && nat dwpa2 sta1 docker
	[ -f "$E2E_RUN/dwpa2-dhclient.pid" ] && kill "$(cat "$E2E_RUN/dwpa2-dhclient.pid")" 2>/dev/null
	ip netns exec sta1 wpa_cli -p "$E2E_RUN/wpa-dwpa2" terminate >/dev/null 2>&1
	docker exec "$DESKTOP_NAME" journalctl --no-pager -o short-monotonic -u softap-agent 2>&1 |
		grep -E 'step=' | tail -n 12 | sed 's/^/E2E-AGENT /' >"$E2E_TTY"
	t0=$(date +%s%N)
	docker stop "$DESKTOP_NAME" >"$E2E_RUN/docker-stop.log" 2>&1
	t1=$(date +%s%N)
	info docker-stop-seconds "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)/1e9}')"
	docker rm "$DESKTOP_NAME" >/dev/null 2>&1
	host_as_before docker-stop-clean "docker stop"
	refused_without_privileged docker-no-privileged docker "${DOCKER_RUN[@]}"
}

# The repository's compose file (given by the harness), on the image
# desktop_docker loaded: `docker compose up -d` brings the AP up, `docker
# compose down` leaves the host as it was.
desktop_compose() {
	local dir=$DESKTOP_WORK/compose t0 t1
	if [ -z "${CFG[compose]:-}" ]; then
		fail compose "no compose in the fw_cfg entry"
		return 1
	fi
	mkdir -p "$dir"
	tr '|' '\n' <<<"${CFG[compose]}" >"$dir/compose.yaml"
	t0=$(date +%s%N)
	if ! (cd "$dir" && docker compose up -d) >"$E2E_RUN/compose-up.log" 2>&1; then
		fail compose "docker compose up -d: $(tail -n 5 "$E2E_RUN/compose-up.log" | tr '\n' ' ')"
		return 1
	fi
	ok compose "docker compose up -d with the repository's compose.yaml"
	AG_EXEC=(docker exec "$DESKTOP_NAME")
	if ! wait_agent; then
		fail compose-ap "the AP did not come up in the Compose service's container"
		docker logs "$DESKTOP_NAME" 2>&1 | tail -n 80 | sed 's/^/E2E-DIAG /' >"$E2E_TTY"
	else
		t1=$(date +%s%N)
		info compose-up-to-ap-seconds "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)/1e9}')"
		ok compose-ap "hostapd ENABLED on $AG_IFACE, subnet $AG_SUBNET, in the Compose service's container ($(docker inspect -f '{{.HostConfig.RestartPolicy.Name}}' "$DESKTOP_NAME") restart policy)"
	fi
	if ! (cd "$dir" && docker compose down) >"$E2E_RUN/compose-down.log" 2>&1; then
		fail compose-stop-clean "docker compose down: $(tail -n 5 "$E2E_RUN/compose-down.log" | tr '\n' ' ')"
		return 1
	fi
	host_as_before compose-stop-clean "docker compose down"
}

# The repository's Quadlet unit (given by the harness), installed as its
# comment says: `systemctl start softap` brings the AP up, `systemctl stop
# softap` leaves the host as it was.
desktop_quadlet() {
	local unit=/etc/containers/systemd/softap.container image t0 t1
	if [ -z "${CFG[quadlet]:-}" ]; then
		fail quadlet "no quadlet in the fw_cfg entry"
		return 1
	fi
	mkdir -p "$(dirname "$unit")"
	tr '|' '\n' <<<"${CFG[quadlet]}" >"$unit"
	image=$(sed -n 's/^Image=oci-archive://p' "$unit")
	install -D -m644 "$DESKTOP_WORK/out/softap.oci.tar" "$image"
	systemctl daemon-reload
	if ! systemctl show -P WantedBy softap.service | grep -qw multi-user.target; then
		fail quadlet "Quadlet made no softap.service wanted by multi-user.target from $unit: $(systemctl show -P LoadState,WantedBy softap.service | tr '\n' ' ')"
		return 1
	fi
	t0=$(date +%s%N)
	if ! systemctl start softap.service >"$E2E_RUN/quadlet-start.log" 2>&1; then
		fail quadlet "systemctl start softap: $(journalctl --no-pager -u softap.service | tail -n 8 | tr '\n' ' ')"
		return 1
	fi
	ok quadlet "systemctl start softap from $unit (Image=oci-archive:$image)"
	AG_EXEC=(podman exec "$DESKTOP_NAME")
	if wait_agent; then
		t1=$(date +%s%N)
		info quadlet-start-to-ap-seconds "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)/1e9}')"
		ok quadlet-ap "hostapd ENABLED on $AG_IFACE, subnet $AG_SUBNET, in the Quadlet service's container"
	else
		fail quadlet-ap "the AP did not come up in the Quadlet service's container"
		journalctl --no-pager -u softap.service | tail -n 40 | sed 's/^/E2E-DIAG /' >"$E2E_TTY"
	fi
	t0=$(date +%s%N)
	systemctl stop softap.service >"$E2E_RUN/quadlet-stop.log" 2>&1
	t1=$(date +%s%N)
	info quadlet-stop-seconds "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)/1e9}')"
	host_as_before quadlet-stop-clean "systemctl stop softap"
	rm -f "$unit" "$image"
	systemctl daemon-reload
}

scenario_e() {
	[ -e "$E2E_RUN/failed" ] && { fail ap "the upstream setup failed (see radios above)"; return; }
	desktop_uplink || return
	# dockerd belongs to the host as it was: its docker0 and its rules are
	# there before the snapshot.
	if ! wait_for 180 systemctl is-active -q docker.service; then
		fail docker-load "dockerd did not start: $(systemctl status --no-pager docker.service 2>&1 | tail -n 5 | tr '\n' ' ')"
	fi
	iptables -P FORWARD DROP
	host_snapshot "$E2E_RUN/host-before"
	desktop_start || return
	ok container "README's podman command: ${RUN_WORDS[*]}"
	check_phy
	local first_subnet=$AG_SUBNET first_ssid=$AG_SSID_HEX first_pass=$AG_PASSPHRASE
	if [ "$(nm_state "$AG_IFACE")" = unmanaged ]; then
		ok nm-unmanaged "nmcli: $AG_IFACE unmanaged while the AP runs"
	else
		fail nm-unmanaged "nmcli says $AG_IFACE is '$(nm_state "$AG_IFACE")': $(nmcli -t device | tr '\n' ' ')"
		podman exec "$DESKTOP_NAME" journalctl --no-pager -o short-monotonic -u softap-agent 2>&1 |
			grep -iE 'networkmanager|busctl|step=' | tail -n 40 | sed 's/^/E2E-DIAG /' >"$E2E_TTY"
	fi
	if [ "$(nm_state "$DESKTOP_STA")" = connected ]; then
		ok upstream-kept "$DESKTOP_STA still connected upstream beside the AP"
	else
		fail upstream-kept "$DESKTOP_STA is '$(nm_state "$DESKTOP_STA")'"
	fi
	if join wpa2 sta1 wpa2 && lease wpa2 sta1 wpa2; then
		nat wpa2 sta1 wpa2
		# NetworkManager's upstream has IPv6 (QEMU's router advertisements):
		# the network has its own beside it, NAT66 included.
		upstream6 upstream6
		NET6=$(status_value .ipv6)
		station_v6 sta1 wpa2 && nat wpa2-v6 sta1 wpa2 6
		[ -f "$E2E_RUN/wpa2-dhclient6.pid" ] && kill "$(cat "$E2E_RUN/wpa2-dhclient6.pid")" 2>/dev/null
		local got
		got=$(ip netns exec sta1 timeout 15 bash -c 'exec 3<>"/dev/tcp/$0/53" && echo connected' "$UPSTREAM_WIFI_GW" 2>&1)
		if [ "$got" = connected ]; then
			ok upstream "TCP to the upstream AP's network ($UPSTREAM_WIFI_GW:53) through the NAT, FORWARD policy $(iptables -S FORWARD | head -n1)"
		else
			fail upstream "TCP to $UPSTREAM_WIFI_GW:53 through the NAT: '$got' ($(iptables -S FORWARD | tr '\n' ' '))"
		fi
	fi
	[ -f "$E2E_RUN/wpa2-dhclient.pid" ] && kill "$(cat "$E2E_RUN/wpa2-dhclient.pid")" 2>/dev/null
	ip netns exec sta1 wpa_cli -p "$E2E_RUN/wpa-wpa2" terminate >/dev/null 2>&1
	desktop_stop
	host_as_before stop-clean "podman stop"
	# Again, with the same state volume.
	if desktop_start; then
		if [ "$AG_SUBNET" = "$first_subnet" ] && [ "$AG_SSID_HEX" = "$first_ssid" ] && [ "$AG_PASSPHRASE" = "$first_pass" ]; then
			ok restart-same "subnet $AG_SUBNET, SSID and passphrase kept by the state volume"
		else
			fail restart-same "after a restart: subnet $first_subnet -> $AG_SUBNET, ssid $first_ssid -> $AG_SSID_HEX, passphrase same: $([ "$AG_PASSPHRASE" = "$first_pass" ] && echo yes || echo no)"
		fi
		# No clean stop this time: what the killed container left, the next
		# start must clean up on its own, and a clean stop then leaves the
		# host as it was.
		podman kill "$DESKTOP_NAME" >"$E2E_RUN/podman-kill.log" 2>&1
		podman rm -f "$DESKTOP_NAME" >/dev/null 2>&1
		if desktop_start; then
			ok kill-restart "after podman kill, README's command again: hostapd ENABLED on $AG_IFACE, subnet $AG_SUBNET"
			desktop_stop
			host_as_before kill-clean "podman kill, a start and podman stop"
		else
			fail kill-restart "after podman kill, the next start did not bring the AP up"
			podman rm -f "$DESKTOP_NAME" >/dev/null 2>&1
		fi
	fi
	refused_without_privileged no-privileged podman "${RUN_WORDS[@]}"
	desktop_quadlet
	desktop_docker && desktop_compose
}
