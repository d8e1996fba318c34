//! The `devp2p` command line tool.

fn main() {
    eprintln!("devp2p: command line not built yet");
    std::process::exit(2);
}
