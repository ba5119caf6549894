//! Rebuilds when the embedded folders change: `include_dir!` cannot tell cargo that a file was
//! added to `rules/` or `queries/`, so cargo is told to watch the folders themselves.

fn main() {
    println!("cargo::rerun-if-changed=rules");
    println!("cargo::rerun-if-changed=queries");
}
