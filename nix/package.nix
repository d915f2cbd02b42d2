# The softap workspace built with cargo. `crates` picks which binaries one
# derivation carries, so the appliance's closure holds the agent alone while
# `softap-build` stays a separate package for build hosts.
{ lib
, rustPlatform
, hostapd
, crates ? [ "softap-agent" "softap-build" ]
}:

let
  root = ../.;
  workspace = lib.importTOML ../Cargo.toml;
  hasAgent = lib.elem "softap-agent" crates;
  crateFlags = lib.concatMap (crate: [ "-p" crate ]) crates;
in
rustPlatform.buildRustPackage {
  pname = if crates == [ "softap-agent" ] || crates == [ "softap-build" ] then lib.head crates else "softap";
  inherit (workspace.workspace.package) version;

  # Only what cargo and the install phase read: editing nix/, images/ or the
  # README must not rebuild the binaries. Every workspace member must be present
  # for cargo to resolve the workspace, tests/ included although nothing of it
  # is installed.
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../config
      ../builder
      ../agent
      ../tests
      # The agent compiles its templates in from here.
      ../overlays/softap/usr/share/softap/templates
      ../overlays/softap/usr/lib/systemd/system
    ];
  };

  cargoLock.lockFile = ../Cargo.lock;

  # The agent asks the hostapd softap-hostapd.service runs which lines it
  # accepts (802.11be); here that is the store's, not /usr/sbin/hostapd.
  SOFTAP_HOSTAPD = "${hostapd}/bin/hostapd";

  cargoBuildFlags = crateFlags;
  # Unit tests only: the integration tests drive skopeo, umoci, QEMU and
  # network namespaces, none of which exist inside the build sandbox.
  cargoTestFlags = crateFlags ++ [ "--lib" ];

  # The agent embeds its templates (include_str! from overlays/); they are
  # installed as well, for reference and for images that override them.
  postInstall = lib.optionalString hasAgent ''
    templates=overlays/softap/usr/share/softap/templates
    if [ -d "$templates" ]; then
      mkdir -p "$out/share/softap"
      cp -r "$templates" "$out/share/softap/templates"
    fi

    # The Debian image's units name FHS paths; point them into the store so
    # that NixOS can take them through systemd.packages.
    units=overlays/softap/usr/lib/systemd/system
    for unit in "$units"/softap-*.service; do
      [ -e "$unit" ] || continue
      install -Dm644 "$unit" "$out/lib/systemd/system/$(basename "$unit")"
      substituteInPlace "$out/lib/systemd/system/$(basename "$unit")" \
        --replace-quiet /usr/bin/softap-agent "$out/bin/softap-agent" \
        --replace-quiet /usr/sbin/hostapd "${hostapd}/bin/hostapd" \
        --replace-quiet /usr/share/softap "$out/share/softap"
    done
  '';

  meta = {
    description = "A portable Wi-Fi access point in front of a libvirt NAT network";
    license = lib.licenses.asl20;
    platforms = lib.platforms.linux;
    mainProgram = lib.head crates;
  };
}
