# NixOS module: a softap access point on this machine. The agent decides the
# phy, channel and subnet at every boot and renders hostapd's and libvirt's
# configuration itself, so this module only provides the programs and services
# it drives and writes the operator's choices to /etc/softap/softap.toml.
{ config, lib, pkgs, ... }:

let
  cfg = config.services.softap;
  settingsFormat = pkgs.formats.toml { };

  # The typed options, one per configuration key of the agent: nix/keys.json
  # is generated from the key table (config/src/keys.rs), whose help is each
  # option's description. Unset options are null and left out of softap.toml,
  # so that the agent's own defaults apply (a per-machine SSID among them).
  keys = lib.importJSON ./keys.json;
  keyOption = option: args: lib.mkOption (args // {
    type = lib.types.nullOr args.type;
    default = null;
    description = "${keys.${option}.help} Null: the agent's default (${keys.${option}.default}).";
  });
  typedSettings = lib.filterAttrs (_: value: value != null)
    (lib.mapAttrs' (option: k: lib.nameValuePair k.key cfg.${option}) keys);
  # The agent's default where the module itself needs the value.
  orDefault = option: if cfg.${option} == null then keys.${option}.default else cfg.${option};

  configFile = settingsFormat.generate "softap.toml" (typedSettings // cfg.settings);

  # The passphrase reaches the agent as a systemd credential, never through
  # the world-readable Nix store.
  passphraseCredential = "softap.passphrase";
in
{
  options.services.softap = {
    enable = lib.mkEnableOption "the softap Wi-Fi access point in front of a libvirt NAT network";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.softap-agent or (pkgs.callPackage ./package.nix { crates = [ "softap-agent" ]; });
      defaultText = lib.literalExpression "pkgs.softap-agent";
      description = ''
        The package providing `softap-agent`, its templates and its systemd
        units; `softap-hostapd.service` runs the hostapd it was built with
        (`pkgs.softap-agent.override { hostapd = ...; }` to change it).
      '';
    };

    ssid = keyOption "ssid" { type = lib.types.strMatching ".{1,32}"; };

    passphraseFile = lib.mkOption {
      # A path literal is refused: it would be copied into the world-readable store.
      type = lib.types.nullOr (lib.types.pathWith { inStore = false; absolute = true; });
      default = null;
      example = "/run/secrets/softap-passphrase";
      description = ''
        File holding the WPA passphrase (8 to 63 characters), read at service
        start through `LoadCredential=` as the agent's `softap.passphrase`
        credential. A string path outside the Nix store: a Nix path literal
        would copy the secret into the store, so it is refused. When null the
        agent generates a passphrase, keeps it under /var/lib/softap and shows
        it on the console.
      '';
    };

    country = keyOption "country" { type = lib.types.strMatching "[A-Z]{2}"; example = "DE"; };
    security = keyOption "security" { type = lib.types.enum [ "auto" "wpa2" "wpa3-transition" "open" ]; example = "wpa2"; };
    channel = keyOption "channel" { type = lib.types.either (lib.types.ints.between 1 233) (lib.types.enum [ "auto" ]); example = "auto"; };
    band = keyOption "band" { type = lib.types.enum [ "auto" "2.4" "5" "6" ]; example = "5"; };
    width = keyOption "width" { type = lib.types.enum [ 20 40 80 160 ]; example = 160; };
    dfs = keyOption "dfs" { type = lib.types.bool; };
    phy = keyOption "phy" { type = lib.types.str; example = "phy0"; };
    subnetPool = keyOption "subnetPool" { type = lib.types.listOf lib.types.str; example = [ "172.16.0.0/16" "10.213.0.0/16" ]; };
    bridge = keyOption "bridge" { type = lib.types.str; };
    networkName = keyOption "networkName" { type = lib.types.str; };
    interfaceName = keyOption "interfaceName" { type = lib.types.str; example = "softap"; };
    domain = keyOption "domain" { type = lib.types.str; example = "lab.internal"; };
    fixedRange = keyOption "fixedRange" { type = lib.types.strMatching "[0-9]+%?"; example = "25%"; };
    isolateClients = keyOption "isolateClients" { type = lib.types.bool; };
    ipv6 = keyOption "ipv6" { type = lib.types.bool; };

    hosts = keyOption "hosts" {
      type = lib.types.listOf (lib.types.submodule {
        options = {
          mac = lib.mkOption { type = lib.types.str; description = "The host's MAC address."; };
          name = lib.mkOption { type = lib.types.str; description = "Its name in the network's domain."; };
          offset = lib.mkOption { type = lib.types.ints.unsigned; description = "Its host part, kept when the subnet moves (at least 2)."; };
        };
      });
      example = [{ mac = "52:54:00:12:34:56"; name = "web"; offset = 10; }];
    };

    settings = lib.mkOption {
      inherit (settingsFormat) type;
      default = { };
      description = "Further keys of /etc/softap/softap.toml; they win over the options above.";
    };

    removeLibvirtDefaultNetwork = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Remove libvirt's stock `default` network, which claims `virbr0` even
        while inactive and so stops the agent from defining its own network.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        # The upstream module writes its own hostapd.conf for fixed radios; two
        # hostapd instances would fight over the interface.
        assertion = !config.services.hostapd.enable;
        message = "services.softap runs hostapd itself; disable services.hostapd.";
      }
    ];

    environment.systemPackages = [ cfg.package pkgs.hostapd pkgs.iw ];
    environment.etc."softap/softap.toml".source = configFile;

    # hostapd's country_code takes effect only with the regulatory database.
    hardware.wirelessRegulatoryDatabase = true;

    systemd.network.enable = true;
    # With no other link managed by networkd, wait-online stalls the boot.
    systemd.network.wait-online.enable = false;

    virtualisation.libvirtd.enable = true;
    security.polkit.enable = lib.mkDefault true;
    systemd.services.libvirtd-config.script = lib.mkIf cfg.removeLibvirtDefaultNetwork (lib.mkAfter ''
      rm -f /var/lib/libvirt/qemu/networks/default.xml \
        /var/lib/libvirt/qemu/networks/autostart/default.xml
    '');

    # DHCP and DNS for the stations are served by libvirt's dnsmasq on the bridge.
    networking.firewall.trustedInterfaces = [ (orDefault "bridge") ];
    networking.networkmanager.unmanaged = [ "interface-name:${orDefault "interfaceName"}" ];

    # The units come with the package (the same ones the Debian image ships,
    # their paths pointed into the store); the definitions below add drop-ins.
    # The agent renders from the templates built into it, the same files the
    # package installs under share/softap/templates: NixOS has no /usr/share
    # for the image-level overrides the Debian image allows.
    systemd.packages = [ cfg.package ];

    systemd.services.softap-agent = {
      wantedBy = [ "multi-user.target" ];
      wants = [ "libvirtd.service" "systemd-networkd.service" ];
      after = [ "libvirtd.service" "systemd-networkd.service" ];
      path = [ pkgs.iw pkgs.iproute2 config.virtualisation.libvirtd.package config.systemd.package ];
      restartTriggers = [ configFile ];
      serviceConfig.LoadCredential = lib.optional (cfg.passphraseFile != null) "${passphraseCredential}:${cfg.passphraseFile}";
    };

    # NixOS ignores the [Install] sections of systemd.packages' units: the
    # teardown, whose stop runs `softap-agent down`, is wanted here and stops
    # with the agent. Its packaged ExecStart, /usr/bin/true, does not exist
    # on NixOS. The unit keeps its condition: it runs in a container (the
    # image from nix/image.nix), not on a machine whose libvirtd is its own.
    systemd.services.softap-teardown = {
      wantedBy = [ "multi-user.target" ];
      partOf = [ "softap-agent.service" ];
      serviceConfig.ExecStart = [ "" "${pkgs.coreutils}/bin/true" ];
    };
    # What `down` compares the host's firewall and forwarding with, noted
    # before libvirtd first adds its chains.
    systemd.services.libvirtd.serviceConfig.ExecStartPre = lib.mkIf config.boot.isContainer [
      "-${cfg.package}/bin/softap-agent host-record"
    ];
  };
}
