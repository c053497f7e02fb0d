# proofpack: reproducible AWS Nitro Enclave images, the attested pack service
# and the `proofpack` verifier.
#
# Outputs (x86_64-linux):
#   packages.proofpack      the verifier CLI
#   packages.enclave-bins   proofpack-init + proofpack-enclave (static, musl)
#   packages.enclave-image  image.eif + pcrs.json + build-manifest.json
#   devShells.default       pinned Rust toolchain (+ musl target), git, nix tools
#
# The image is assembled by proofpack itself (`proofpack build
# --prebuilt-init/--prebuilt-app`): the same tested Rust code that lays out the
# ramdisks, writes the EIF and computes PCRs for native builds, so this file
# only wires inputs together. AWS's blobs come from nitro-cli at the commit
# pinned in build-spec/enclave.toml, and proofpack re-verifies them against
# the spec's pins before use.
#
# Pinning: every input is pinned by git revision in its URL below: nixpkgs
# (a nixos-25.11 revision of 2026-05-10), rust-overlay (a revision of
# 2026-05-11, which carries Rust 1.95.0) and nitro-cli v1.5.0. The narHash of
# each input is recorded in flake.lock, which `nix flake lock` creates on a
# machine with network access (this repository was developed offline; see
# docs/notes/build.md); to move a pin, edit the revision here. The Rust
# toolchain is pinned by exact version here, and its `rustc -vV` commit hash
# is enforced by proofpack against build-spec/enclave.toml when the image is
# assembled (the build fails on a mismatch).
{
  description = "proofpack: reproducible Nitro Enclave images, attested secret packing, and the verifier";

  inputs = {
    # nixos-25.11 as of 2026-05-10.
    nixpkgs.url = "github:NixOS/nixpkgs/8fd9daa3db09ced9700431c5b7ad0e8ba199b575";
    rust-overlay = {
      url = "github:oxalica/rust-overlay/4852a8aa041c94af55e136cde5b8b6d42c3563e8";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    # nitro-cli v1.5.0: kernel, kernel config and nsm.ko for the production profile.
    nitro-cli = {
      url = "github:aws/aws-nitro-enclaves-cli/2950b3699d81ad304df2458915688a552734833d";
      flake = false;
    };
  };

  outputs = { self, nixpkgs, rust-overlay, nitro-cli }:
    let
      system = "x86_64-linux";
      pkgs = import nixpkgs {
        inherit system;
        overlays = [ rust-overlay.overlays.default ];
      };
      # Must equal [toolchain] in build-spec/enclave.toml (checked at assembly).
      rustVersion = "1.95.0";
      muslTarget = "x86_64-unknown-linux-musl";
      toolchain = pkgs.rust-bin.stable.${rustVersion}.minimal.override {
        targets = [ muslTarget ];
      };
      rustPlatform = pkgs.makeRustPlatform {
        cargo = toolchain;
        rustc = toolchain;
      };
      src = pkgs.lib.cleanSource ./.;
      version = "0.1.0";

      proofpack = rustPlatform.buildRustPackage {
        pname = "proofpack";
        inherit version src;
        cargoLock.lockFile = ./Cargo.lock;
        cargoBuildFlags = [ "-p" "proofpack" "--bin" "proofpack" ];
        doCheck = false;
      };

      # The same deterministic settings `proofpack build` applies natively.
      enclave-bins = rustPlatform.buildRustPackage {
        pname = "proofpack-enclave-bins";
        inherit version src;
        cargoLock.lockFile = ./Cargo.lock;
        cargoBuildFlags = [ "-p" "proofpack-enclave" "--bin" "proofpack-init" "--bin" "proofpack-enclave" ];
        CARGO_BUILD_TARGET = muslTarget;
        CARGO_PROFILE_RELEASE_CODEGEN_UNITS = "1";
        CARGO_PROFILE_RELEASE_DEBUG = "0";
        CARGO_PROFILE_RELEASE_STRIP = "debuginfo";
        CARGO_INCREMENTAL = "0";
        RUSTFLAGS = "-C target-feature=+crt-static";
        doCheck = false;
      };

      enclave-image = pkgs.runCommand "proofpack-enclave-${version}-eif"
        {
          nativeBuildInputs = [ proofpack toolchain ];
        } ''
        mkdir -p $out
        proofpack build \
          --spec ${src}/build-spec/enclave.toml \
          --profile production \
          --blobs ${nitro-cli} \
          --prebuilt-init ${enclave-bins}/bin/proofpack-init \
          --prebuilt-app ${enclave-bins}/bin/proofpack-enclave \
          --source-date-epoch ${toString self.lastModified} \
          --out $out \
          --format json --quiet > $out/build.json
      '';
    in
    {
      packages.${system} = {
        inherit proofpack enclave-bins enclave-image;
        default = proofpack;
      };
      apps.${system}.default = {
        type = "app";
        program = "${proofpack}/bin/proofpack";
      };
      devShells.${system}.default = pkgs.mkShell {
        packages = [ toolchain pkgs.git pkgs.pkg-config ];
      };
    };
}
