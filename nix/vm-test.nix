# NixOS VM test: two mac80211_hwsim radios; the agent brings the access point
# up on one, and a WPA2 station on the other, in its own network namespace,
# associates with it.
{ pkgs, module }:

let
  ssid = "softap-vm-test";
  passphrase = "correct horse battery staple";
  stationConf = pkgs.writeText "station.conf" ''
    ctrl_interface=/run/wpa_supplicant-station
    network={
      ssid="${ssid}"
      psk="${passphrase}"
      key_mgmt=WPA-PSK
    }
  '';
in
pkgs.testers.runNixOSTest {
  name = "softap";

  nodes.machine = {
    imports = [ module ];

    boot.kernelModules = [ "mac80211_hwsim" ];
    boot.extraModprobeConfig = "options mac80211_hwsim radios=2";

    services.softap = {
      enable = true;
      inherit ssid;
      # A store path is fine for a throw-away test secret.
      passphraseFile = pkgs.writeText "softap-passphrase" passphrase;
      country = "DE";
    };

    environment.systemPackages = [ pkgs.wpa_supplicant pkgs.iw pkgs.iproute2 ];
    virtualisation.memorySize = 1024;
  };

  testScript = ''
    machine.wait_for_unit("multi-user.target")
    machine.wait_for_unit("softap-agent.service")
    machine.wait_until_succeeds("journalctl -b --no-pager | grep -q 'softap: AP-ENABLED'", timeout=120)
    machine.succeed("hostapd_cli -p /run/hostapd -i softap status | grep -q state=ENABLED")

    # The station takes the radio the access point does not use.
    ap_phy = machine.succeed("cat /sys/class/net/softap/phy80211/name").strip()
    phys = machine.succeed("ls /sys/class/ieee80211").split()
    station_phy = next(p for p in phys if p != ap_phy)
    machine.succeed("ip netns add station")
    machine.succeed(f"iw phy {station_phy} set netns name station")
    station_if = machine.succeed(
        "ip netns exec station iw dev | awk '/Interface/ {print $2; exit}'"
    ).strip()
    machine.succeed(
        f"ip netns exec station wpa_supplicant -B -i {station_if} -c ${stationConf}"
    )
    machine.wait_until_succeeds(
        f"ip netns exec station wpa_cli -p /run/wpa_supplicant-station -i {station_if} status"
        " | grep -q wpa_state=COMPLETED",
        timeout=60,
    )
    machine.succeed("iw dev softap station dump | grep -q Station")
  '';
}
