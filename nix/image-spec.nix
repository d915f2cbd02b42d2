# The softap-build spec of the Nix appliance image as a plain attribute set:
# nix/image.nix writes it as TOML for the build, and
# builder/tests/nix_exprs.rs checks that the builder accepts it as it is.
{ closureInfo, toplevel, sourceDateEpoch }:

{
  image = {
    name = "softap";
    tag = "nix";
    source_date_epoch = sourceDateEpoch;
  };
  base = {
    kind = "nix-closure";
    closure_info = closureInfo;
    inherit toplevel;
    max_layers = 100;
  };
  container = {
    entrypoint = [ "/sbin/init" ];
    stop_signal = "SIGRTMIN+3";
    labels."org.opencontainers.image.title" = "softap";
  };
  output = {
    oci_archive = true;
    oci_dir = false;
    disk = false;
  };
}
