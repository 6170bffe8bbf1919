/// A list of items for a message, bounded: the first `limit` items, then how many there are in all
/// (`1, 1, 1, … (5000 in all)`), so that a hostile input with thousands of repeats gives a line, not a page.
/// Messages that name lines or values of a document (e.g. every `ds:Signature` of a document) use it.
func cappedList(_ items: [String], limit: Int = 10, separator: String = ", ") -> String {
    guard items.count > limit else { return items.joined(separator: separator) }
    return items.prefix(limit).joined(separator: separator) + separator + "… (\(items.count) in all)"
}
