# shellcheck shell=bash
# IPv6 on an upstream that has it (QEMU's user network sends router
# advertisements unless told not to): the upstream keeps its IPv6 address
# and default route while libvirt forwards IPv6 for the network, and a
# station reaches the harness's IPv6 listener through the network's NAT
# (`nat ... 6` in run).
# Scenario a's upstream is networkd's (it handles the advertisements
# itself); scenario d first hands its upstream to the kernel, as on hosts
# where no network manager handles that link, so the agent in the
# container must set the link's accept_ra to 2 and put it back at its stop.

# The link of the IPv4 default route: the upstream.
upstream_dev() { ip -4 route show default | awk '{print $5; exit}'; }

# upstream6 CHECK: the upstream has an IPv6 address and an IPv6
# default route, IPv6 forwarding is on and the network has its prefix.
upstream6() {
	local check=$1 dev addr route fwd net6
	dev=$(upstream_dev)
	# Any scope but the link's: QEMU's prefix, fec0::/64, is site-local.
	addr=$(ip -6 -o addr show dev "$dev" 2>/dev/null | awk '$4 !~ /^fe80:/ {print $4; exit}')
	route=$(ip -6 route show default dev "$dev" 2>/dev/null | head -n1)
	fwd=$(cat /proc/sys/net/ipv6/conf/all/forwarding)
	agent_status --root / || true
	net6=$(status_value .ipv6)
	if [ -n "$addr" ] && [ -n "$route" ] && [ "$fwd" = 1 ] && [ -n "$net6" ]; then
		ok "$check" "$dev keeps $addr and '$route' with IPv6 forwarding on; the network has $net6; accept_ra $(cat "/proc/sys/net/ipv6/conf/$dev/accept_ra")"
	else
		fail "$check" "$dev: global address '$addr', default route '$route', IPv6 forwarding $fwd, the network's IPv6 '$net6'; plan: $("${AG_EXEC[@]}" softap-agent plan --json 2>/dev/null | jq -c '[.plan.decisions[] | select(.topic == "ipv6") | .text]')"
	fi
}

# kernel_upstream: networkd lets go of the upstream, which keeps its IPv4
# address and route, and the kernel takes the upstream's router
# advertisements (accept_ra 1): its address and default route from them are
# the kernel's own, as libvirt's check sees them (RTF_ADDRCONF).
KERNEL_DEV=
kernel_upstream() {
	local dev v4 gw flags
	dev=$(upstream_dev)
	v4=$(ip -4 -br addr show dev "$dev" | awk '{print $3}')
	gw=$(ip -4 route show default dev "$dev" | awk '{print $3; exit}')
	mkdir -p /run/systemd/network
	printf '[Match]\nName=%s\n\n[Link]\nUnmanaged=yes\n' "$dev" >/run/systemd/network/10-e2e-kernel-upstream.network
	networkctl reload
	if ! wait_for 20 sh -c "networkctl list --no-legend '$dev' | grep -q unmanaged"; then
		fail kernel-ra "networkd still manages $dev: $(networkctl list --no-legend "$dev")"
		return 1
	fi
	echo 1 >"/proc/sys/net/ipv6/conf/$dev/accept_ra"
	echo 1 >"/proc/sys/net/ipv6/conf/$dev/autoconf"
	# A new link-up sends a router solicitation; the answer is the kernel's.
	ip link set dev "$dev" down && ip link set dev "$dev" up
	ip addr replace "$v4" dev "$dev" && ip route replace default via "$gw" dev "$dev"
	if ! wait_for 30 sh -c "ip -6 route show default dev '$dev' proto ra | grep -q via"; then
		fail kernel-ra "no IPv6 default route from the kernel's handling of router advertisements on $dev in 30 s: $(ip -6 route | tr '\n' '|')"
		return 1
	fi
	flags=$(awk -v d="$dev" '$10 == d && $1 == "00000000000000000000000000000000" {print $9}' /proc/net/ipv6_route | head -n1)
	if [ $((0x${flags:-0} & 0x40000)) = 0 ]; then
		fail kernel-ra "the default route on $dev carries no RTF_ADDRCONF (flags '$flags')"
		return 1
	fi
	KERNEL_DEV=$dev
	ok kernel-ra "$dev: $v4 via $gw kept, accept_ra 1, the kernel's own IPv6 default route (flags $flags): $(ip -6 route show default dev "$dev" | head -n1)"
}

# accept_ra_set: the agent set the kernel upstream's accept_ra to 2.
accept_ra_set() {
	local now
	now=$(cat "/proc/sys/net/ipv6/conf/$KERNEL_DEV/accept_ra")
	if [ "$now" = 2 ]; then
		ok accept-ra "$KERNEL_DEV accept_ra 2 while the AP runs"
	else
		fail accept-ra "$KERNEL_DEV accept_ra is $now while the AP runs, want 2"
	fi
}

# accept_ra_back: after the container stopped, the upstream's accept_ra is
# 1 again and it keeps its IPv6 default route.
accept_ra_back() {
	local now route
	now=$(cat "/proc/sys/net/ipv6/conf/$KERNEL_DEV/accept_ra")
	route=$(ip -6 route show default dev "$KERNEL_DEV" | head -n1)
	if [ "$now" = 1 ] && [ -n "$route" ]; then
		ok accept-ra-back "$KERNEL_DEV accept_ra 1 again after the container stopped; '$route' kept"
	else
		fail accept-ra-back "$KERNEL_DEV after the container stopped: accept_ra $now (want 1), IPv6 default route '$route'"
	fi
}
