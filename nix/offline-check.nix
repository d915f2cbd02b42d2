# What can be checked of the Nix expressions without nixpkgs or the binary
# cache, with Debian's Nix 2.8: the flake's shape, its lock, the overlay, and
# that the package's source filter and crate names match the Cargo workspace.
# `scripts/check-nix` evaluates this file; it yields true or throws.
let
  root = ../.;
  system = "x86_64-linux";
  check = condition: message: if condition then true else throw "nix/offline-check.nix: ${message}";
  readToml = path: builtins.fromTOML (builtins.readFile (root + path));
  sameSet = a: b: builtins.sort builtins.lessThan a == builtins.sort builtins.lessThan b;

  flake = import (root + "/flake.nix");
  # Only names and types are inspected, so nixpkgs is never forced.
  outputs = flake.outputs {
    self = outputs // { lastModified = 1; };
    nixpkgs = throw "nixpkgs is not available offline";
  };

  lock = builtins.fromJSON (builtins.readFile (root + "/flake.lock"));
  rootInputs = lock.nodes.${lock.root}.inputs;
  nixpkgsNode = lock.nodes.${rootInputs.nixpkgs};
  wantedRef = builtins.match "github:NixOS/nixpkgs/(.*)" flake.inputs.nixpkgs.url;

  workspace = readToml "/Cargo.toml";
  crateOf = member: (readToml "/${member}/Cargo.toml").package.name;
  overlay = import (root + "/nix/overlay.nix")
    { callPackage = path: args: { inherit path args; }; }
    { };
in
builtins.all (x: x) [
  (check (sameSet (builtins.attrNames flake.inputs) (builtins.attrNames rootInputs))
    "flake.lock's root inputs differ from flake.nix's inputs; run `nix flake lock`")
  (check (wantedRef != null && nixpkgsNode.original.ref == builtins.head wantedRef)
    "flake.lock pins another nixpkgs branch than flake.nix asks for")
  (check (builtins.match "[0-9a-f]{40}" nixpkgsNode.locked.rev != null)
    "flake.lock's nixpkgs rev is not a full commit id")
  (check (builtins.match "sha256-[A-Za-z0-9+/]{43}=" nixpkgsNode.locked.narHash != null)
    "flake.lock's nixpkgs narHash is malformed")
  (check (builtins.isInt nixpkgsNode.locked.lastModified) "flake.lock's nixpkgs lacks lastModified")

  (check
    (sameSet (builtins.attrNames outputs.packages.${system})
      [ "softap-agent" "softap-build" "softap-image" "softap-disk" "default" ])
    "packages.${system} must be softap-agent, softap-build, softap-image, softap-disk, default")
  (check (builtins.isFunction outputs.nixosModules.default)
    "nixosModules.default must be a function (import ./nix/module.nix), which Nix 2.8 accepts")
  (check (builtins.isFunction outputs.overlays.default) "overlays.default must be a function")
  (check (builtins.hasAttr "vm-test" outputs.checks.${system}) "checks.${system}.vm-test is missing")
  (check (builtins.hasAttr "default" outputs.devShells.${system}) "devShells.${system}.default is missing")
  (check (builtins.hasAttr system outputs.formatter) "formatter.${system} is missing")

  (check (sameSet workspace.workspace.members [ "config" "builder" "agent" "tests" ])
    "the Cargo workspace members changed: update the source filter in nix/package.nix")
  (check (builtins.isString workspace.workspace.package.version)
    "nix/package.nix reads workspace.package.version from Cargo.toml")
  (check (overlay.softap-agent.args.crates == [ (crateOf "agent") ])
    "overlay's softap-agent builds another crate than agent/Cargo.toml names")
  (check (overlay.softap-build.args.crates == [ (crateOf "builder") ])
    "overlay's softap-build builds another crate than builder/Cargo.toml names")
  (check
    (builtins.all (p: builtins.pathExists (root + p))
      [ "/Cargo.lock" "/nix/package.nix" "/nix/module.nix" "/nix/keys.json" "/nix/image.nix" "/nix/image-spec.nix" "/nix/vm-test.nix" ])
    "a file the flake imports is missing")
]
