//! Builds the one C file of the engine: long-double arithmetic for INCRBYFLOAT.
fn main() {
    println!("cargo:rerun-if-changed=src/longdouble.c");
    cc::Build::new().file("src/longdouble.c").opt_level(2).compile("redoubt_longdouble");
}
