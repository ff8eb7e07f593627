//! Layered layout of the service map.
//!
//! Services are drawn in rows: callers above the services they call. This is
//! the usual Sugiyama-style recipe, cut down to what a terminal dashboard
//! needs: break cycles, rank by longest path, then reorder each row with the
//! barycenter heuristic to reduce edge crossings. The result is
//! deterministic, so the map does not jump around between refreshes.

use petgraph::Direction;
use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};

/// Number of down-and-up barycenter sweeps. Small graphs settle quickly.
const SWEEPS: usize = 4;

/// Where the dashboard draws a node: its layer (0 = callers nobody calls) and its position within the layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    /// Layer, counted from the top.
    pub rank: usize,
    /// Position within the layer, counted from the left; the orders in a
    /// layer are `0..k` without gaps.
    pub order: usize,
}

/// Lays out a directed graph of `nodes` nodes (identified 0..nodes) with `edges` (from, to) in layers: callers above callees.
///
/// Returns one [`Place`] per node, indexed by node id.
///
/// - Cycles, including self-loops, are broken by ignoring the back edges
///   found by a depth-first search that starts from the nodes nobody calls
///   (in index order), then from any node not yet reached.
/// - A node's rank is the length of the longest path reaching it over the
///   remaining edges, so a database called by both a frontend and a backend
///   sits below the backend. Nodes without callers, including isolated
///   ones, get rank 0.
/// - Within a rank, nodes start in index order and are then reordered by
///   the mean position of their neighbours in the rank above, then below,
///   keeping the ordering with the fewest crossings. Ties keep the previous
///   order.
///
/// Edges naming a node outside `0..nodes` are ignored.
pub fn layered(nodes: usize, edges: &[(usize, usize)]) -> Vec<Place> {
    if nodes == 0 {
        return Vec::new();
    }
    let (dag, _) = acyclic(nodes, edges);
    let rank = ranks(&dag);
    let depth = rank.iter().max().map_or(1, |&r| r + 1);

    // Only neighbours in adjacent ranks take part in the ordering; longer
    // edges do not constrain it.
    let mut above = vec![Vec::new(); nodes];
    let mut below = vec![Vec::new(); nodes];
    for edge in dag.raw_edges() {
        let (from, to) = (edge.source().index(), edge.target().index());
        if rank[from] + 1 == rank[to] {
            above[to].push(from);
            below[from].push(to);
        }
    }

    let mut layers = vec![Vec::new(); depth];
    for (node, &r) in rank.iter().enumerate() {
        layers[r].push(node);
    }
    let mut order = vec![0; nodes];
    record_order(&layers, &mut order);

    let mut best = order.clone();
    let mut best_crossings = crossings(&layers, &below, &order);
    for _ in 0..SWEEPS {
        if best_crossings == 0 {
            break;
        }
        for layer in layers.iter_mut().skip(1) {
            reorder(layer, &above, &mut order);
        }
        for layer in layers.iter_mut().rev().skip(1) {
            reorder(layer, &below, &mut order);
        }
        let now = crossings(&layers, &below, &order);
        if now < best_crossings {
            best_crossings = now;
            best.clone_from(&order);
        }
    }

    rank.iter()
        .zip(best)
        .map(|(&rank, order)| Place { rank, order })
        .collect()
}

/// Builds the graph without its back edges. Edge weights are indices into
/// `edges`; the second value tells, per input edge, whether it was kept.
fn acyclic(nodes: usize, edges: &[(usize, usize)]) -> (DiGraph<(), usize>, Vec<bool>) {
    let mut graph = DiGraph::<(), usize>::with_capacity(nodes, edges.len());
    for _ in 0..nodes {
        graph.add_node(());
    }
    for (index, &(from, to)) in edges.iter().enumerate() {
        if from < nodes && to < nodes {
            graph.add_edge(NodeIndex::new(from), NodeIndex::new(to), index);
        }
    }

    // Outgoing edges in input order, so the search does not depend on
    // petgraph's internal edge order.
    let mut out: Vec<Vec<(EdgeIndex, usize)>> = vec![Vec::new(); nodes];
    for edge in graph.edge_indices() {
        if let Some((from, to)) = graph.edge_endpoints(edge) {
            out[from.index()].push((edge, to.index()));
        }
    }
    for list in &mut out {
        list.sort_by_key(|&(edge, _)| graph[edge]);
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; nodes];
    let mut back = vec![false; graph.edge_count()];
    let roots = (0..nodes).filter(|&n| {
        graph
            .neighbors_directed(NodeIndex::new(n), Direction::Incoming)
            .next()
            .is_none()
    });
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for start in roots.chain(0..nodes) {
        if mark[start] != Mark::New {
            continue;
        }
        mark[start] = Mark::Open;
        stack.push((start, 0));
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let Some(&(edge, to)) = out[node].get(*next) else {
                mark[node] = Mark::Done;
                stack.pop();
                continue;
            };
            *next += 1;
            match mark[to] {
                Mark::New => {
                    mark[to] = Mark::Open;
                    stack.push((to, 0));
                }
                Mark::Open => back[edge.index()] = true,
                Mark::Done => {}
            }
        }
    }

    let mut kept = vec![false; edges.len()];
    let dag = graph.filter_map(
        |_, _| Some(()),
        |edge, &index| {
            let keep = !back[edge.index()];
            if keep {
                kept[index] = true;
            }
            keep.then_some(index)
        },
    );
    (dag, kept)
}

/// Longest-path rank of every node of an acyclic graph.
fn ranks(dag: &DiGraph<(), usize>) -> Vec<usize> {
    let mut rank = vec![0; dag.node_count()];
    // The back edges are gone, so this cannot fail; if it somehow did,
    // every node would simply stay in rank 0.
    for node in toposort(dag, None).unwrap_or_default() {
        for next in dag.neighbors(node) {
            rank[next.index()] = rank[next.index()].max(rank[node.index()] + 1);
        }
    }
    rank
}

fn record_order(layers: &[Vec<usize>], order: &mut [usize]) {
    for layer in layers {
        record_layer(layer, order);
    }
}

fn record_layer(layer: &[usize], order: &mut [usize]) {
    for (position, &node) in layer.iter().enumerate() {
        order[node] = position;
    }
}

/// Sorts `layer` by the mean order of each node's `neighbours`. Nodes with
/// no such neighbours keep their slot; the others fill the remaining slots,
/// stably sorted.
fn reorder(layer: &mut [usize], neighbours: &[Vec<usize>], order: &mut [usize]) {
    // A barycenter kept as an exact fraction: (sum of orders, count).
    let key = |node: usize| {
        let list = &neighbours[node];
        (!list.is_empty()).then(|| (list.iter().map(|&n| order[n]).sum::<usize>(), list.len()))
    };
    let mut movable: Vec<(usize, (usize, usize))> = layer
        .iter()
        .filter_map(|&node| key(node).map(|k| (node, k)))
        .collect();
    movable.sort_by(|&(_, (s1, c1)), &(_, (s2, c2))| {
        (s1 as u128 * c2 as u128).cmp(&(s2 as u128 * c1 as u128))
    });
    let mut sorted = movable.into_iter().map(|(node, _)| node);
    for slot in layer.iter_mut() {
        if !neighbours[*slot].is_empty()
            && let Some(node) = sorted.next()
        {
            *slot = node;
        }
    }
    record_layer(layer, order);
}

/// Counts crossings between adjacent ranks: two edges cross when their
/// upper ends and lower ends are in opposite order.
fn crossings(layers: &[Vec<usize>], below: &[Vec<usize>], order: &[usize]) -> usize {
    let mut total = 0;
    let mut pairs = Vec::new();
    for pair in layers.windows(2) {
        let [upper, lower] = pair else { continue };
        pairs.clear();
        for &from in upper {
            pairs.extend(below[from].iter().map(|&to| (order[from], order[to])));
        }
        pairs.sort_unstable();
        // After sorting by upper end, every inversion in the lower ends is
        // a crossing. Count them with a Fenwick tree over lower positions.
        let mut tree = vec![0usize; lower.len() + 1];
        for (seen, &(_, to)) in pairs.iter().enumerate() {
            let mut at_most = 0;
            let mut i = to + 1;
            while i > 0 {
                at_most += tree[i];
                i &= i - 1;
            }
            total += seen - at_most;
            let mut i = to + 1;
            while i < tree.len() {
                tree[i] += 1;
                i += i & i.wrapping_neg();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ranks_of(places: &[Place]) -> Vec<usize> {
        places.iter().map(|p| p.rank).collect()
    }

    fn crossings_of(nodes: usize, edges: &[(usize, usize)], places: &[Place]) -> usize {
        let depth = places.iter().map(|p| p.rank + 1).max().unwrap_or(0);
        let mut layers = vec![Vec::new(); depth];
        let mut sorted: Vec<usize> = (0..nodes).collect();
        sorted.sort_by_key(|&n| places[n].order);
        for n in sorted {
            layers[places[n].rank].push(n);
        }
        let mut below = vec![Vec::new(); nodes];
        for &(from, to) in edges {
            if places[from].rank + 1 == places[to].rank {
                below[from].push(to);
            }
        }
        let order: Vec<usize> = places.iter().map(|p| p.order).collect();
        crossings(&layers, &below, &order)
    }

    fn assert_orders_are_permutations(places: &[Place]) {
        let depth = places.iter().map(|p| p.rank + 1).max().unwrap_or(0);
        for rank in 0..depth {
            let mut orders: Vec<usize> = places
                .iter()
                .filter(|p| p.rank == rank)
                .map(|p| p.order)
                .collect();
            orders.sort_unstable();
            assert_eq!(orders, (0..orders.len()).collect::<Vec<_>>(), "rank {rank}");
        }
    }

    #[test]
    fn empty_and_isolated() {
        assert_eq!(layered(0, &[]), Vec::new());
        let places = layered(3, &[]);
        assert_eq!(ranks_of(&places), [0, 0, 0]);
        assert_eq!(
            places.iter().map(|p| p.order).collect::<Vec<_>>(),
            [0, 1, 2]
        );
    }

    #[test]
    fn chain() {
        let places = layered(3, &[(0, 1), (1, 2)]);
        assert_eq!(ranks_of(&places), [0, 1, 2]);
        assert!(places.iter().all(|p| p.order == 0));
    }

    #[test]
    fn shop() {
        let (frontend, ads, discounts, sqlite) = (0, 1, 2, 3);
        let edges = [
            (frontend, ads),
            (frontend, discounts),
            (ads, sqlite),
            (discounts, sqlite),
        ];
        let places = layered(4, &edges);
        assert_eq!(ranks_of(&places), [0, 1, 1, 2]);
        assert_eq!(places[ads].order, 0);
        assert_eq!(places[discounts].order, 1);
    }

    #[test]
    fn database_sits_below_its_deepest_caller() {
        // frontend -> backend -> db, and frontend -> db directly.
        let places = layered(3, &[(0, 2), (0, 1), (1, 2)]);
        assert_eq!(ranks_of(&places), [0, 1, 2]);
    }

    #[test]
    fn barycenter_removes_crossing() {
        // 0 calls 1 and 2; 1 calls 4, 2 calls 3. In index order the
        // bottom row is [3, 4] and the two lower edges cross.
        let edges = [(0, 1), (0, 2), (1, 4), (2, 3)];
        let places = layered(5, &edges);
        assert_eq!(ranks_of(&places), [0, 1, 1, 2, 2]);
        let index_order = [
            Place { rank: 0, order: 0 },
            Place { rank: 1, order: 0 },
            Place { rank: 1, order: 1 },
            Place { rank: 2, order: 0 },
            Place { rank: 2, order: 1 },
        ];
        assert_eq!(crossings_of(5, &edges, &index_order), 1);
        assert_eq!(crossings_of(5, &edges, &places), 0);
        assert_eq!(places[4].order, 0);
        assert_eq!(places[3].order, 1);
    }

    #[test]
    fn two_roots_swap_to_uncross() {
        // Roots 0 and 1 call 3 and 2 respectively.
        let places = layered(4, &[(0, 3), (1, 2)]);
        assert_eq!(ranks_of(&places), [0, 0, 1, 1]);
        assert_eq!(crossings_of(4, &[(0, 3), (1, 2)], &places), 0);
    }

    #[test]
    fn cycles_terminate() {
        // A two-node cycle has no root; the search starts at node 0.
        assert_eq!(ranks_of(&layered(2, &[(0, 1), (1, 0)])), [0, 1]);
        // A self-loop is ignored.
        assert_eq!(ranks_of(&layered(1, &[(0, 0)])), [0]);
        assert_eq!(ranks_of(&layered(2, &[(0, 1), (1, 1)])), [0, 1]);
        // A cycle below a root hangs under it.
        let places = layered(3, &[(0, 1), (1, 2), (2, 1)]);
        assert_eq!(ranks_of(&places), [0, 1, 2]);
        // Out-of-range edges are ignored.
        assert_eq!(ranks_of(&layered(2, &[(0, 7), (9, 1)])), [0, 0]);
    }

    #[test]
    fn deterministic() {
        let edges = [(0, 3), (1, 3), (2, 4), (0, 4), (3, 5), (4, 5), (5, 0)];
        assert_eq!(layered(6, &edges), layered(6, &edges));
    }

    fn graph() -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
        (1usize..=30).prop_flat_map(|n| (Just(n), prop::collection::vec((0..n, 0..n), 0..=80)))
    }

    fn dag() -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
        graph().prop_map(|(n, edges)| {
            let edges = edges
                .into_iter()
                .filter(|(a, b)| a != b)
                .map(|(a, b)| (a.min(b), a.max(b)))
                .collect();
            (n, edges)
        })
    }

    proptest! {
        #[test]
        fn layout_invariants((n, edges) in graph()) {
            let places = layered(n, &edges);
            prop_assert_eq!(places.len(), n);
            assert_orders_are_permutations(&places);
            let (dag, kept) = acyclic(n, &edges);
            for (&(from, to), kept) in edges.iter().zip(kept) {
                if kept {
                    prop_assert!(places[from].rank < places[to].rank, "{from}->{to}");
                }
            }
            // Longest-path ranks are tight: every ranked node has a kept
            // caller exactly one rank above.
            for (node, place) in places.iter().enumerate() {
                if place.rank > 0 {
                    let tight = dag
                        .neighbors_directed(NodeIndex::new(node), Direction::Incoming)
                        .any(|caller| places[caller.index()].rank + 1 == place.rank);
                    prop_assert!(tight, "node {node}");
                }
            }
            prop_assert_eq!(&layered(n, &edges), &places);
        }

        #[test]
        fn dag_edges_point_down((n, edges) in dag()) {
            let places = layered(n, &edges);
            for &(from, to) in &edges {
                prop_assert!(places[from].rank < places[to].rank, "{from}->{to}");
            }
            // The sweeps never make things worse than index order.
            let mut plain = places.clone();
            let mut seen = vec![0; n];
            for place in &mut plain {
                place.order = seen[place.rank];
                seen[place.rank] += 1;
            }
            prop_assert!(crossings_of(n, &edges, &places) <= crossings_of(n, &edges, &plain));
        }
    }
}
