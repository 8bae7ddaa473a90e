//! The one outage rule of both rotations (a CA's and the service-account
//! key's): no node presents what another does not trust yet, and no node drops
//! the old one while another still presents it; else the nodes furthest behind.

/// A node in a rotation (of a CA or of the service-account key), as the one
/// outage rule of both reads it.
pub(super) trait RotationNode {
    /// Where the node stands, ordered from the start of the rotation to its end.
    type Place: Copy + Ord;
    fn node(&self) -> &str;
    fn place(&self) -> Self::Place;
    fn place_name(&self) -> &'static str;
    /// It presents the new CA (signs with its key, holds its leaves), or signs
    /// tokens with the new key.
    fn presents_new(&self) -> bool;
    /// It presents the old CA, or signs tokens with the old key.
    fn presents_old(&self) -> bool;
    /// Every trust point trusts the new CA, or its apiserver accepts the new key.
    fn trusts_new(&self) -> bool;
    /// Every trust point trusts the old CA, or its apiserver accepts the old key.
    fn trusts_old(&self) -> bool;
}

/// What a rotation's nodes amount to, by the rule both rotations follow.
pub(super) enum Verdict<'a, N: RotationNode> {
    /// `presenters` present the new CA or key where `lacking` do not trust it yet:
    /// an outage.
    NewUntrusted {
        presenters: Vec<&'a N>,
        lacking: Vec<&'a N>,
    },
    /// `dropping` no longer trust the old CA or key while `presenters` still
    /// present it: an outage.
    OldDropped {
        dropping: Vec<&'a N>,
        presenters: Vec<&'a N>,
    },
    /// Every node trusts what the others present. `least` is the place furthest
    /// behind and `behind` the nodes there; `dropped_old` is whether some node
    /// no longer trusts the old CA or key.
    Safe {
        least: Option<N::Place>,
        behind: Vec<&'a N>,
        one_place: bool,
        dropped_old: bool,
    },
}

pub(super) fn verdict<N: RotationNode>(nodes: &[N]) -> Verdict<'_, N> {
    let those = |f: &dyn Fn(&N) -> bool| nodes.iter().filter(|n| f(n)).collect::<Vec<_>>();
    let presenters = those(&|n| n.presents_new());
    let lacking = those(&|n| !n.trusts_new());
    if !presenters.is_empty() && !lacking.is_empty() {
        return Verdict::NewUntrusted {
            presenters,
            lacking,
        };
    }
    let dropping = those(&|n| !n.trusts_old());
    let presenters = those(&|n| n.presents_old());
    if !dropping.is_empty() && !presenters.is_empty() {
        return Verdict::OldDropped {
            dropping,
            presenters,
        };
    }
    let least = nodes.iter().map(N::place).min();
    let behind = those(&|n| Some(n.place()) == least);
    Verdict::Safe {
        least,
        one_place: behind.len() == nodes.len(),
        behind,
        dropped_old: !dropping.is_empty(),
    }
}

/// `cp-1, cp-2 (reissued)`: nodes with their places.
pub(super) fn with_places<P: RotationNode>(places: &[&P]) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for p in places {
        match groups.iter_mut().find(|(pl, _)| *pl == p.place_name()) {
            Some((_, n)) => n.push(p.node()),
            None => groups.push((p.place_name(), vec![p.node()])),
        }
    }
    groups
        .iter()
        .map(|(pl, n)| format!("{} ({pl})", n.join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn names<P: RotationNode>(places: &[&P]) -> String {
    places
        .iter()
        .map(|p| p.node())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node of a made-up rotation: places are numbers, 0 the furthest behind.
    struct Node {
        name: &'static str,
        place: u8,
        /// (new, old) it presents.
        presents: (bool, bool),
        /// (new, old) it trusts.
        trusts: (bool, bool),
    }

    impl RotationNode for Node {
        type Place = u8;
        fn node(&self) -> &str {
            self.name
        }
        fn place(&self) -> u8 {
            self.place
        }
        fn place_name(&self) -> &'static str {
            ["first", "second", "third"][usize::from(self.place)]
        }
        fn presents_new(&self) -> bool {
            self.presents.0
        }
        fn presents_old(&self) -> bool {
            self.presents.1
        }
        fn trusts_new(&self) -> bool {
            self.trusts.0
        }
        fn trusts_old(&self) -> bool {
            self.trusts.1
        }
    }

    fn node(name: &'static str, place: u8, presents: (bool, bool), trusts: (bool, bool)) -> Node {
        Node {
            name,
            place,
            presents,
            trusts,
        }
    }

    #[test]
    fn the_new_one_presented_where_it_is_not_trusted_is_an_outage() {
        let nodes = [
            node("a", 2, (true, false), (true, false)),
            node("b", 0, (false, true), (false, true)),
        ];
        // b also still presents the old one a dropped: the first outage is named.
        let Verdict::NewUntrusted {
            presenters,
            lacking,
        } = verdict(&nodes)
        else {
            panic!("not NewUntrusted")
        };
        assert_eq!(with_places(&presenters), "a (third)");
        assert_eq!(names(&lacking), "b");
    }

    #[test]
    fn the_old_one_dropped_while_presented_is_an_outage() {
        let nodes = [
            node("a", 2, (true, false), (true, false)),
            node("b", 1, (true, true), (true, true)),
            node("c", 1, (false, true), (true, true)),
        ];
        let Verdict::OldDropped {
            dropping,
            presenters,
        } = verdict(&nodes)
        else {
            panic!("not OldDropped")
        };
        assert_eq!(names(&dropping), "a");
        assert_eq!(with_places(&presenters), "b, c (second)");
    }

    #[test]
    fn otherwise_safe_with_the_nodes_furthest_behind() {
        let nodes = [
            node("a", 2, (true, false), (true, false)),
            node("b", 1, (true, false), (true, true)),
            node("c", 2, (true, false), (true, false)),
        ];
        let Verdict::Safe {
            least,
            behind,
            one_place,
            dropped_old,
        } = verdict(&nodes)
        else {
            panic!("not Safe")
        };
        assert_eq!(least, Some(1));
        assert_eq!(names(&behind), "b");
        assert!(!one_place && dropped_old);
        let all: Vec<&Node> = nodes.iter().collect();
        assert_eq!(with_places(&all), "a, c (third), b (second)");

        let Verdict::Safe {
            one_place,
            dropped_old,
            ..
        } = verdict(&nodes[1..2])
        else {
            panic!("not Safe")
        };
        assert!(one_place && !dropped_old);
    }
}
