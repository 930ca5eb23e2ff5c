import PostgresNIO

/// A row's columns decoded one cell at a time, in column order.
///
/// PostgresNIO's `row.decode((A, B, …).self)` decodes a parameter pack: it looks up generic metadata at run time
/// on every row, which the profile of a busy node showed as most of its row decoding. Decoding each cell as its
/// own concrete type is specialized at compile time.
struct PostgresRowCells {
    private var cells: PostgresRow.Iterator
    private let binary: Bool

    /// `binary`: the cells are in binary format whatever the row's description says. PostgresNIO's futures-based
    /// prepared statements (`PreparedQuery`) bind for binary results but describe their rows with the formats of the
    /// statement's Describe, which are text.
    init(_ row: PostgresRow, binary: Bool = false) {
        cells = row.makeIterator()
        self.binary = binary
    }

    mutating func next<T: PostgresDecodable>(_: T.Type = T.self) throws -> T {
        guard var cell = cells.next() else { throw StoreError.corrupt("a row has fewer columns than the statement selects") }
        if binary { cell.format = .binary }
        return try cell.decode(T.self)
    }
}
