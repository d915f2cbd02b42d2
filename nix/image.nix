# The appliance from a NixOS configuration instead of Debian packages.
#
# softap-image: a NixOS *container* system (boot.isContainer), its closure
# computed by Nix (closureInfo) and handed to softap-build's `nix-closure` base,
# which lays one OCI layer per store path up to the cap and groups the rest.
#
# softap-disk: the USB stick is built with NixOS's own image tooling
# (image.repart, i.e. systemd-repart), not with softap-build's disk output.
# The builder's disk output installs a Debian kernel, initrd and loader entry;
# a NixOS system boots through its own stage 1, whose initrd and `init=` are
# tied to its toplevel, and NixOS already packs both into a unified kernel
# image. systemd-repart builds the GPT disk offline, without root, loop devices
# or a VM, from a fixed seed, so it keeps what the builder's disk output
# guarantees (rootless, reproducible, mountable by partition label from USB)
# without re-implementing NixOS's boot in the builder.
{ pkgs
, nixosSystem
, module
, softap-build
, sourceDateEpoch ? 1
}:

let
  inherit (pkgs) lib;
  inherit (pkgs.stdenv.hostPlatform) system efiArch;

  common = {
    imports = [ module ];
    services.softap.enable = true;
    networking.hostName = "softap";
    system.stateVersion = "25.05";
  };

  container = nixosSystem {
    inherit system;
    modules = [
      common
      ({ config, ... }: {
        boot.isContainer = true;
        # The builder ships the closure's registration as /nix-path-registration
        # (it never runs Nix); load it into Nix's database at first boot, as
        # NixOS's own LXC images do.
        boot.postBootCommands = ''
          if [ -f /nix-path-registration ]; then
            ${config.nix.package.out}/bin/nix-store --load-db < /nix-path-registration \
              && rm /nix-path-registration
          fi
        '';
      })
    ];
  };
  toplevel = container.config.system.build.toplevel;

  spec = (pkgs.formats.toml { }).generate "softap-nix.toml" (import ./image-spec.nix {
    closureInfo = "${pkgs.closureInfo { rootPaths = [ toplevel ]; }}";
    toplevel = "${toplevel}";
    inherit sourceDateEpoch;
  });

  disk = nixosSystem {
    inherit system;
    modules = [
      common
      ({ config, modulesPath, ... }: {
        imports = [ "${modulesPath}/image/repart.nix" ];

        boot.loader.grub.enable = false;
        # A stick moves between machines: carry the USB and common disk drivers
        # and the Wi-Fi firmware of real laptops.
        boot.initrd.availableKernelModules = [ "xhci_pci" "ehci_pci" "usb_storage" "uas" "sd_mod" "ahci" "nvme" ];
        hardware.enableRedistributableFirmware = true;

        fileSystems."/" = {
          device = "/dev/disk/by-partlabel/softap-root";
          fsType = "ext4";
        };
        fileSystems."/boot" = {
          device = "/dev/disk/by-partlabel/softap-esp";
          fsType = "vfat";
        };

        image.repart = {
          name = "softap";
          partitions = {
            "10-esp" = {
              contents = {
                "/EFI/BOOT/BOOT${lib.toUpper efiArch}.EFI".source =
                  "${pkgs.systemd}/lib/systemd/boot/efi/systemd-boot${efiArch}.efi";
                "/EFI/Linux/${config.system.boot.loader.ukiFile}".source =
                  "${config.system.build.uki}/${config.system.boot.loader.ukiFile}";
                # Editable from any OS before the first boot (SSID, passphrase, country).
                "/softap.toml".source = config.environment.etc."softap/softap.toml".source;
              };
              repartConfig = {
                Type = "esp";
                Format = "vfat";
                Label = "softap-esp";
                SizeMinBytes = "256M";
              };
            };
            "20-root" = {
              storePaths = [ config.system.build.toplevel ];
              repartConfig = {
                Type = "root";
                Format = "ext4";
                Label = "softap-root";
                Minimize = "guess";
              };
            };
          };
        };
      })
    ];
  };
in
{
  softap-image = pkgs.runCommand "softap.oci.tar"
    {
      nativeBuildInputs = [ softap-build ];
      passthru = { inherit container toplevel spec; };
    } ''
    # The sandbox has no usable $HOME: keep the layer cache in the build dir.
    softap-build build ${spec} --out out --cache cache --json > report.json
    mv out/softap.oci.tar "$out"
  '';

  softap-disk = disk.config.system.build.image.overrideAttrs (old: {
    passthru = (old.passthru or { }) // { system = disk; };
  });
}
