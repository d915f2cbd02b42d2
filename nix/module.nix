# NixOS module: a softap access point on this machine. The agent decides the
# phy, channel and subnet at every boot and renders hostapd's and libvirt's
# configuration itself, so this module only provides the programs and services
# it drives and writes the operator's choices to /etc/softap/softap.toml.
{ config, lib, pkgs, ... }:

let
  cfg = config.services.softap;
  settingsFormat = pkgs.formats.toml { };

  # The typed options below, as the agent's configuration keys (the table in
  # config/src/keys.rs, whose test checks this mapping; the agent rejects unknown
  # keys); unset options are left out so that the agent's own defaults apply.
  typedSettings = lib.filterAttrs (_: value: value != null) {
    inherit (cfg) ssid country channel phy bridge security;
    subnet_pool = cfg.subnetPool;
    network_name = cfg.networkName;
    interface = cfg.interfaceName;
    inherit (cfg) domain ipv6;
    fixed_range = cfg.fixedRange;
    isolate_clients = cfg.isolateClients;
    host = cfg.hosts;
  };

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

    ssid = lib.mkOption {
      type = lib.types.strMatching ".{1,32}";
      default = "softap";
      description = "Network name the access point announces (1 to 32 bytes).";
    };

    passphraseFile = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = null;
      example = "/run/secrets/softap-passphrase";
      description = ''
        File holding the WPA passphrase (8 to 63 characters), read at service
        start through `LoadCredential=` as the agent's `softap.passphrase`
        credential. Give a string path outside the Nix store: a Nix path
        literal would copy the secret into the store. When null the agent
        generates a passphrase, keeps it under /var/lib/softap and shows it on
        the console.
      '';
    };

    country = lib.mkOption {
      type = lib.types.nullOr (lib.types.strMatching "[A-Z]{2}");
      default = null;
      example = "DE";
      description = "ISO 3166 country code for the regulatory domain; null keeps the kernel's.";
    };

    security = lib.mkOption {
      type = lib.types.nullOr (lib.types.enum [ "auto" "wpa2" "wpa3-transition" "open" ]);
      default = null;
      example = "wpa2";
      description = "Security mode; null (the agent's `auto`) uses WPA3-SAE transition where the radio supports SAE, WPA2-PSK otherwise.";
    };

    channel = lib.mkOption {
      type = lib.types.nullOr (lib.types.ints.between 1 233);
      default = null;
      description = "Channel to use; null lets the agent choose (it follows an upstream station on one-channel radios).";
    };

    phy = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "phy0";
      description = "Radio to host the access point; null lets the agent find one that can.";
    };

    subnetPool = lib.mkOption {
      type = lib.types.nullOr (lib.types.listOf lib.types.str);
      default = null;
      example = [ "172.16.0.0/16" "10.213.0.0/16" ];
      description = "Subnets the agent may choose from, in order; it skips any that clash with addresses, routes or libvirt networks.";
    };

    bridge = lib.mkOption {
      type = lib.types.str;
      default = "virbr0";
      description = "Bridge of the libvirt network that the access point joins.";
    };

    networkName = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      description = "Name of the libvirt network the agent defines.";
    };

    interfaceName = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "softap";
      description = "Name of the access point's wireless interface (the agent's default is `softap`).";
    };

    domain = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "lab.internal";
      description = "DNS domain of the network (VMs and stations answer as NAME.DOMAIN); null: the network's name.";
    };

    fixedRange = lib.mkOption {
      type = lib.types.nullOr (lib.types.strMatching "[0-9]+%?");
      default = null;
      example = "25%";
      description = "How much of the subnet, after the gateway, DHCP leaves to hosts with their own address: a share (\"25%\") or a number of addresses; null: the lower half.";
    };

    isolateClients = lib.mkOption {
      type = lib.types.nullOr lib.types.bool;
      default = null;
      description = "Keep Wi-Fi stations and VMs from reaching each other (they reach only the gateway and the upstream); null: false.";
    };

    ipv6 = lib.mkOption {
      type = lib.types.nullOr lib.types.bool;
      default = null;
      description = "Give the network an IPv6 unique local /64 with router advertisements, DHCPv6 and NAT; null: true.";
    };

    hosts = lib.mkOption {
      type = lib.types.nullOr (lib.types.listOf (lib.types.submodule {
        options = {
          mac = lib.mkOption { type = lib.types.str; description = "The host's MAC address."; };
          name = lib.mkOption { type = lib.types.str; description = "Its name in the network's domain."; };
          offset = lib.mkOption { type = lib.types.ints.unsigned; description = "Its host part, kept when the subnet moves (at least 2)."; };
        };
      }));
      default = null;
      example = [{ mac = "52:54:00:12:34:56"; name = "web"; offset = 10; }];
      description = "Address reservations (`[[host]]` in softap.toml).";
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
    networking.firewall.trustedInterfaces = [ cfg.bridge ];
    networking.networkmanager.unmanaged = [ "interface-name:${if cfg.interfaceName == null then "softap" else cfg.interfaceName}" ];

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
  };
}
