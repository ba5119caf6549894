//! The README documents the schema users query: every column and struct member is named there.

use arrow::datatypes::{DataType, Field};
use trailq::lake::Table;

fn names(field: &Field, out: &mut Vec<String>) {
    out.push(field.name().clone());
    match field.data_type() {
        DataType::Struct(children) => children.iter().for_each(|c| names(c, out)),
        DataType::List(item) => names(item, out),
        _ => {}
    }
}

#[test]
fn readme_names_every_column() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut all = Vec::new();
    for table in Table::ALL {
        assert!(
            readme.contains(&format!("`{table}`")),
            "README does not list `{table}`"
        );
        table
            .schema()
            .fields()
            .iter()
            .for_each(|f| names(f, &mut all));
    }
    for name in all.into_iter().filter(|n| n != "item") {
        assert!(
            readme.contains(&format!("`{name}`")),
            "README does not document `{name}`"
        );
    }
}
