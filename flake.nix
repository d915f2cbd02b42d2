{
  description = "softap: a portable Wi-Fi access point in front of a libvirt NAT network";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs = { self, nixpkgs }:
    let
      system = "x86_64-linux";
      pkgs = import nixpkgs {
        inherit system;
        overlays = [ self.overlays.default ];
      };
      images = import ./nix/image.nix {
        inherit pkgs;
        inherit (nixpkgs.lib) nixosSystem;
        inherit (pkgs) softap-build;
        module = self.nixosModules.default;
        sourceDateEpoch = self.lastModified or 1;
      };
    in
    {
      overlays.default = import ./nix/overlay.nix;

      # Nix 2.8 rejects a bare path here; an imported function works everywhere.
      nixosModules.default = import ./nix/module.nix;
      nixosModules.softap = self.nixosModules.default;

      packages.${system} = {
        inherit (pkgs) softap-agent softap-build;
        inherit (images) softap-image softap-disk;
        default = images.softap-image;
      };

      checks.${system} = {
        inherit (pkgs) softap-agent softap-build;
        vm-test = import ./nix/vm-test.nix {
          inherit pkgs;
          module = self.nixosModules.default;
        };
      };

      devShells.${system}.default = pkgs.mkShell {
        inputsFrom = [ pkgs.softap-build ];
        packages = with pkgs; [
          clippy
          rustfmt
          skopeo
          umoci
          hostapd
          iw
          nixpkgs-fmt
          deadnix
        ];
      };

      formatter.${system} = pkgs.nixpkgs-fmt;
    };
}
