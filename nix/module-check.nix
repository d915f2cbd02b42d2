# Evaluates nix/module.nix with nixpkgs' own lib.evalModules, beside the
# declarations of the NixOS options it sets (nix/nixos-options.nix) and a
# stand-in for the few packages it names, so that options are type-checked
# and merged as on NixOS. `lib` is nixpkgs' lib/ (scripts/check-nix passes
# it from its cache).
#
#   checks          true, or a throw naming the check that failed
#   settings.NAME   the value the module writes to softap.toml for a case
#   refusals        NAME = the words of NixOS's message refusing it
#   refusalNames    their names, separated by spaces
#   refused.NAME    evaluates case NAME, which must fail with that message
{ lib }:

let
  keys = lib.importJSON ./keys.json;

  drv = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };
  # The packages the module and the declarations name; formats.toml is typed
  # as nixpkgs' pkgs-lib/formats.nix types it, and its file keeps the value
  # so that the checks (and the Rust test) can read what would be written.
  pkgs = lib.genAttrs [ "softap-agent" "hostapd" "iw" "iproute2" "coreutils" "libvirt" "systemd" ] drv // {
    formats.toml = {}: {
      type =
        let
          valueType = lib.types.oneOf [
            lib.types.bool
            lib.types.int
            lib.types.float
            lib.types.str
            lib.types.path
            (lib.types.attrsOf valueType)
            (lib.types.listOf valueType)
          ] // { description = "TOML value"; };
        in
        valueType;
      generate = name: value: drv name // { inherit value; };
    };
  };

  evaluate = modules: lib.evalModules {
    modules = [ ./module.nix ./nixos-options.nix { _module.args.pkgs = pkgs; } ] ++ modules;
  };
  # What building the system forces: every option's value, then the
  # assertions, as NixOS's toplevel does.
  system = modules:
    let
      inherit (evaluate modules) config;
    in
    builtins.deepSeq config (lib.asserts.checkAssertWarn config.assertions config.warnings config);
  softap = settings: system [{ services.softap = { enable = true; } // settings; }];
  settingsOf = config: config.environment.etc."softap/softap.toml".source.value;

  cases = {
    defaults = softap { };
    full = softap {
      ssid = "lab";
      passphraseFile = "/run/secrets/softap-passphrase";
      country = "DE";
      security = "wpa3-transition";
      channel = 11;
      band = "5";
      width = 160;
      dfs = true;
      phy = "phy1";
      subnetPool = [ "172.16.0.0/16" "10.213.0.0/16" ];
      bridge = "virbr7";
      networkName = "lab";
      interfaceName = "ap0";
      domain = "lab.internal";
      fixedRange = "25%";
      isolateClients = true;
      ipv6 = false;
      hosts = [{ mac = "52:54:00:12:34:56"; name = "web"; offset = 10; }];
      settings.channel = 1;
    };
    auto = softap { channel = "auto"; };
  };
  container = system [{ services.softap.enable = true; boot.isContainer = true; }];
  disabled = system [{ services.softap = { ssid = "lab"; passphraseFile = "/run/secrets/p"; }; services.hostapd.enable = true; }];

  check = condition: message: if condition then true else throw "nix/module-check.nix: ${message}";
  show = builtins.toJSON;
  agent = cases.defaults.systemd.services.softap-agent;
  # Absent, the checks below name what is missing.
  teardown = cases.defaults.systemd.services.softap-teardown or { wantedBy = [ ]; partOf = [ ]; serviceConfig = { }; };
  inherit (evaluate [ ]) options;

  refusals = {
    ssidTooLong = {
      settings.ssid = "an SSID of more than thirty-two bytes";
      message = "A definition for option `services.softap.ssid' is not of type `null or string matching the pattern .{1,32}'";
    };
    countryLowerCase = {
      settings.country = "de";
      message = "A definition for option `services.softap.country' is not of type `null or string matching the pattern [A-Z]{2}'";
    };
    channelZero = {
      settings.channel = 0;
      message = "A definition for option `services.softap.channel' is not of type `null or integer between 1 and 233 (both inclusive) or value \"auto\" (singular enum)'";
    };
    securityUnknown = {
      settings.security = "wep";
      message = "A definition for option `services.softap.security' is not of type `null or one of \"auto\", \"wpa2\", \"wpa3-transition\", \"open\"'";
    };
    fixedRangeWords = {
      settings.fixedRange = "half";
      message = "A definition for option `services.softap.fixedRange' is not of type `null or string matching the pattern [0-9]+%?'";
    };
    hostOffsetNegative = {
      settings.hosts = [{ mac = "52:54:00:12:34:56"; name = "web"; offset = -1; }];
      message = "A definition for option `services.softap.hosts.\"[definition 1-entry 1]\".offset' is not of type `unsigned integer, meaning >=0'";
    };
    # A path literal would be copied into the world-readable store.
    passphraseFileInStore = {
      settings.passphraseFile = ./module.nix;
      message = "A definition for option `services.softap.passphraseFile' is not of type `null or absolute path not in the Nix store'";
    };
    settingsNull = {
      settings.settings.ssid = null;
      message = "A definition for option `services.softap.settings.ssid' is not of type `TOML value'";
    };
    unknownOption = {
      settings.sid = "lab";
      message = "The option `services.softap.sid' does not exist";
    };
    hostapdToo = {
      modules = [{ services.hostapd.enable = true; }];
      message = "Failed assertions:\n- services.softap runs hostapd itself; disable services.hostapd.";
    };
  };
in
{
  settings = lib.mapAttrs (_: settingsOf) cases;
  refusals = lib.mapAttrs (_: r: r.message) refusals;
  refusalNames = builtins.concatStringsSep " " (builtins.attrNames refusals);
  refused = lib.mapAttrs
    (_: r: builtins.seq (system ([{ services.softap = { enable = true; } // r.settings or { }; }] ++ r.modules or [ ])) true)
    refusals;

  checks = builtins.all (x: x) ([
    # Unset options leave the agent's defaults alone.
    (check (settingsOf cases.defaults == { })
      "with no option set the module writes ${show (settingsOf cases.defaults)} to softap.toml, not {}")
    (check
      (settingsOf cases.full == {
        ssid = "lab";
        country = "DE";
        security = "wpa3-transition";
        channel = 1;
        band = "5";
        width = 160;
        dfs = true;
        phy = "phy1";
        subnet_pool = [ "172.16.0.0/16" "10.213.0.0/16" ];
        bridge = "virbr7";
        network_name = "lab";
        interface = "ap0";
        domain = "lab.internal";
        fixed_range = "25%";
        isolate_clients = true;
        ipv6 = false;
        host = [{ mac = "52:54:00:12:34:56"; name = "web"; offset = 10; }];
      })
      "every option set gives ${show (settingsOf cases.full)}")

    # The passphrase is a credential, never in the store.
    (check (cases.full.systemd.services.softap-agent.serviceConfig.LoadCredential == [ "softap.passphrase:/run/secrets/softap-passphrase" ])
      "passphraseFile reaches the agent as ${show cases.full.systemd.services.softap-agent.serviceConfig.LoadCredential}")
    (check (agent.serviceConfig.LoadCredential == [ ]) "no passphraseFile, yet a credential is loaded")

    (check (lib.elem "multi-user.target" agent.wantedBy) "softap-agent is not wanted by multi-user.target")
    # NixOS ignores the [Install] sections of systemd.packages' units.
    (check (lib.elem "multi-user.target" teardown.wantedBy)
      "softap-teardown is not wanted by multi-user.target, so it never starts and the host is not cleaned at the stop")
    (check (lib.elem "softap-agent.service" teardown.partOf)
      "softap-teardown does not stop with softap-agent (partOf)")
    (check (teardown.serviceConfig.ExecStart or null == [ "" "${pkgs.coreutils}/bin/true" ])
      "softap-teardown's ExecStart is ${show teardown.serviceConfig.ExecStart or null}: the packaged /usr/bin/true does not exist on NixOS")
    (check
      (container.systemd.services.libvirtd.serviceConfig.ExecStartPre == [ "-${pkgs.softap-agent}/bin/softap-agent host-record" ]
        && !(cases.defaults.systemd.services.libvirtd.serviceConfig ? ExecStartPre))
      "the host's record is not taken before libvirtd starts in a container, or is taken outside one")
    (check (cases.full.networking.firewall.trustedInterfaces == [ "virbr7" ] && cases.defaults.networking.firewall.trustedInterfaces == [ "virbr0" ])
      "the firewall trusts ${show cases.defaults.networking.firewall.trustedInterfaces}, not the bridge")
    (check
      (container.systemd.services.libvirtd.serviceConfig.ExecStartPre == [ "-${pkgs.softap-agent}/bin/softap-agent host-record" ]
        && !(cases.defaults.systemd.services.libvirtd.serviceConfig ? ExecStartPre))
      "the host's record is not taken before libvirtd starts in a container, or is taken outside one")
    (check (cases.full.networking.networkmanager.unmanaged == [ "interface-name:ap0" ] && cases.defaults.networking.networkmanager.unmanaged == [ "interface-name:softap" ])
      "NetworkManager is kept off ${show cases.defaults.networking.networkmanager.unmanaged}, not the AP interface")

    # Disabled: nothing is set, and the hostapd conflict does not apply.
    (check (disabled.environment.etc == { } && disabled.systemd.services == { } && disabled.systemd.packages == [ ] && !disabled.virtualisation.libvirtd.enable)
      "a disabled module still configures the system")
  ] ++ lib.mapAttrsToList
    (option: k:
      let
        declared = options.services.softap.${option};
      in
      check (declared.default == null && declared.description == "${k.help} Null: the agent's default (${k.default}).")
        "services.softap.${option} defaults to ${show declared.default} with description ${show declared.description}; the key table (nix/keys.json) has null and ${show k.help}")
    keys);
}
