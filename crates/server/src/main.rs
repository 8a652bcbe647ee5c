fn main() {
    println!("redoubt-server: under construction");
}
