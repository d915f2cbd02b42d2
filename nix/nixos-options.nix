# Declarations of the NixOS options nix/module.nix sets, typed as NixOS 25.05
# types them (nixos/modules/system/boot/systemd.nix and unit-options.nix,
# config/system-path.nix, system/etc/etc.nix, misc/assertions.nix, ...), so
# that nix/module-check.nix can evaluate the module with nixpkgs' own
# lib.evalModules where the whole of nixpkgs is out of reach. Only the options
# the module touches are here: a new one it sets fails the evaluation with
# "The option `...' does not exist" until it is declared below.
{ lib, pkgs, ... }:

let
  inherit (lib) mkOption types;

  # nixos/lib/systemd-lib.nix
  unitNameType = types.strMatching "[a-zA-Z0-9@%:_.\\-]+[.](service|socket|device|mount|automount|swap|target|path|timer|scope|slice)";
  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge = loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.any (def: lib.isList def.value) defs' then
        lib.concatMap (def: lib.toList def.value) defs'
      else
        lib.mergeEqualOption loc defs';
  };
  units = description: mkOption {
    type = types.listOf unitNameType;
    default = [ ];
    inherit description;
  };
  lines = description: mkOption {
    type = types.lines;
    default = "";
    inherit description;
  };
  enable = description: mkOption {
    type = types.bool;
    default = false;
    inherit description;
  };

  # nixos/lib/systemd-unit-options.nix, serviceOptions
  service = { name, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; description = "Whether the unit is used."; };
      description = mkOption { type = types.singleLineStr; default = ""; description = "Description of the unit."; };
      wantedBy = units "Units that want this one.";
      requiredBy = units "Units that require this one.";
      upheldBy = units "Units that uphold this one.";
      wants = units "Units this one wants.";
      requires = units "Units this one requires.";
      upholds = units "Units this one upholds.";
      after = units "Units this one starts after.";
      before = units "Units this one starts before.";
      bindsTo = units "Units this one is bound to.";
      partOf = units "Units whose stop and restart this one follows.";
      conflicts = units "Units this one conflicts with.";
      unitConfig = mkOption { type = types.attrsOf unitOption; default = { }; description = "[Unit] settings."; };
      serviceConfig = mkOption { type = types.attrsOf unitOption; default = { }; description = "[Service] settings."; };
      environment = mkOption {
        type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]));
        default = { };
        description = "Environment variables.";
      };
      path = mkOption {
        type = types.listOf (types.oneOf [ types.package types.str ]);
        default = [ ];
        description = "Packages whose bin and sbin go on the unit's PATH.";
      };
      restartTriggers = mkOption { type = types.listOf types.unspecified; default = [ ]; description = "Restart when these change."; };
      reloadTriggers = mkOption { type = types.listOf types.unspecified; default = [ ]; description = "Reload when these change."; };
      script = lines "Shell commands run as the main process.";
      preStart = lines "Shell commands run before the main process.";
      postStart = lines "Shell commands run after the main process started.";
      preStop = lines "Shell commands run before the stop.";
      postStop = lines "Shell commands run after the stop.";
      restartIfChanged = mkOption { type = types.bool; default = true; description = "Restart on a configuration change."; };
      stopIfChanged = mkOption { type = types.bool; default = true; description = "Stop and start rather than restart."; };
      startAt = mkOption { type = types.either types.str (types.listOf types.str); default = [ ]; description = "Calendar events."; };
    };
    config.description = lib.mkDefault name;
  };

  # nixos/modules/system/etc/etc.nix
  etcFile = { name, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; description = "Whether the file is made."; };
      target = mkOption { type = types.str; default = name; description = "Its name below /etc."; };
      text = mkOption { type = types.nullOr types.lines; default = null; description = "Its text."; };
      source = mkOption { type = types.path; description = "Where it comes from."; };
      mode = mkOption { type = types.str; default = "symlink"; description = "Symlink or copy mode."; };
      user = mkOption { type = types.str; default = "+0"; description = "Owner of a copy."; };
      group = mkOption { type = types.str; default = "+0"; description = "Group of a copy."; };
    };
  };
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      internal = true;
      default = [ ];
      description = "Conditions that must hold, with the message to show when one does not.";
    };
    warnings = mkOption {
      type = types.listOf types.str;
      internal = true;
      default = [ ];
      description = "Messages shown at evaluation.";
    };

    boot.isContainer = enable "Whether the system runs in a container.";

    environment.systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = "Packages in the system profile.";
    };
    environment.etc = mkOption {
      type = types.attrsOf (types.submodule etcFile);
      default = { };
      description = "Files below /etc.";
    };

    hardware.wirelessRegulatoryDatabase = enable "Whether the wireless regulatory database is loaded.";

    networking.firewall.trustedInterfaces = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Interfaces whose traffic the firewall accepts.";
    };
    networking.networkmanager.unmanaged = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Devices NetworkManager leaves alone.";
    };

    security.polkit.enable = enable "Whether polkit runs.";
    services.hostapd.enable = enable "Whether NixOS's own hostapd module runs.";

    systemd.package = mkOption {
      type = types.package;
      default = pkgs.systemd;
      description = "The systemd package.";
    };
    systemd.packages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = "Packages whose units systemd loads (their [Install] sections are ignored).";
    };
    systemd.services = mkOption {
      type = types.attrsOf (types.submodule service);
      default = { };
      description = "systemd services.";
    };
    systemd.network.enable = enable "Whether systemd-networkd runs.";
    systemd.network.wait-online.enable = mkOption {
      type = types.bool;
      default = true;
      description = "Whether systemd-networkd-wait-online runs.";
    };

    virtualisation.libvirtd.enable = enable "Whether libvirtd runs.";
    virtualisation.libvirtd.package = mkOption {
      type = types.package;
      default = pkgs.libvirt;
      description = "The libvirt package.";
    };
  };
}
