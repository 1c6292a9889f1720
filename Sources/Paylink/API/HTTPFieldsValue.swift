import HTTPTypes

extension HTTPFields {
    /// The field's value, as `self[name]` gives it: nil if absent, the values joined with ", "
    /// if it is repeated. The usual case, one field, returns its value as it is: `self[name]`
    /// joins through a generic lazy sequence even then, which was ≈ 1.3 % of a create's CPU
    /// over the three headers every create reads.
    func value(_ name: HTTPField.Name) -> String? {
        var found: String?
        for field in self where field.name == name {
            if found != nil { return self[name] }
            found = field.value
        }
        return found
    }
}
