//! A port of the alignment rules of Go's `text/tabwriter` for flags = 0 and a
//! space pad character, so kubeadm's tables come out byte-for-byte.
//!
//! Cells are tab-terminated; the last cell of a line is not part of any column.
//! Consecutive lines that have a cell in column k form a block, aligned to the
//! widest cell plus padding (at least `min_width`).

/// Formats `text` (lines separated by `\n`, cells by `\t`) like
/// `tabwriter.NewWriter(w, min_width, _, padding, ' ', 0)`.
pub fn format(text: &str, min_width: usize, padding: usize) -> String {
    let mut lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    // A trailing newline leaves one empty line that Go never prints.
    let trailing_newline = text.ends_with('\n');
    if trailing_newline {
        lines.pop();
    }
    let mut out = String::new();
    let mut widths = Vec::new();
    format_block(
        &lines,
        0,
        lines.len(),
        &mut widths,
        min_width,
        padding,
        &mut out,
    );
    if !trailing_newline && out.ends_with('\n') {
        out.pop();
    }
    out
}

fn width(cell: &str) -> usize {
    cell.chars().count()
}

fn format_block(
    lines: &[Vec<&str>],
    mut line0: usize,
    line1: usize,
    widths: &mut Vec<usize>,
    min_width: usize,
    padding: usize,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        // A cell exists in this column: print the lines before the block.
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut w = min_width;
        while this < line1 && column + 1 < lines[this].len() {
            w = w.max(width(lines[this][column]) + padding);
            this += 1;
        }
        widths.push(w);
        format_block(lines, line0, this, widths, min_width, padding, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() && j + 1 < line.len() {
                out.extend(std::iter::repeat_n(
                    ' ',
                    widths[j].saturating_sub(width(cell)),
                ));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn aligns_columns_with_min_width_and_padding() {
        let got = format("a\tbb\tlast\nccc\td\tx\n", 10, 3);
        assert_eq!(got, "a         bb        last\nccc       d         x\n");
    }

    #[test]
    fn a_line_without_cells_splits_blocks() {
        let got = format("name-long-long\tx\n\nn\ty\n", 2, 3);
        assert_eq!(got, "name-long-long   x\n\nn   y\n");
    }

    #[test]
    fn empty_cells_are_padded_but_the_last_is_not() {
        let got = format("!MISSING! a\t\t\nbbbbbbbbbbbbb\tc\td\n", 0, 1);
        assert_eq!(got, "!MISSING! a     \nbbbbbbbbbbbbb c d\n");
    }
}
