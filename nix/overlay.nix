# nixpkgs overlay: `pkgs.softap-agent` (the appliance's daemon, with its
# templates and units) and `pkgs.softap-build` (the image builder).
final: _prev: {
  softap-agent = final.callPackage ./package.nix { crates = [ "softap-agent" ]; };
  softap-build = final.callPackage ./package.nix { crates = [ "softap-build" ]; };
}
