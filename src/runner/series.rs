//! `hetbench run --repeat N`: the suite measured N times in a row on one
//! node, as HEPscore takes the median of three runs. One run's interval
//! covers the spread of its samples, not what changes between runs (a
//! cache warmed by the previous job, a frequency governor, a neighbour on
//! the node); replicates measure that. Each replicate is a run of its own
//! (its own run id, run file and resume), and every result carries the
//! series id and its replicate index ([`Replicate`]), so that the reports
//! can find the replicates of one series and combine them
//! (`report::data`).

use crate::plan::Replicate;

/// The replicates one invocation runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    id: String,
    of: u32,
}

impl Series {
    /// A series of `of` replicates (`of >= 1`, checked by the caller) under
    /// a new id.
    pub fn new(of: u32) -> Series {
        Series {
            id: uuid::Uuid::new_v4().to_string(),
            of: of.max(1),
        }
    }

    /// Each replicate in order; a single run (`--repeat 1`) is no series
    /// and yields one `None`.
    pub fn replicates(&self) -> Vec<Option<Replicate>> {
        if self.of == 1 {
            return vec![None];
        }
        (1..=self.of)
            .map(|index| {
                Some(Replicate {
                    series_id: self.id.clone(),
                    index,
                    of: self.of,
                })
            })
            .collect()
    }

    /// ` (replicate i of N, series ID)` for a replicate, empty otherwise.
    pub fn describe(&self, r: Option<&Replicate>) -> String {
        match r {
            Some(r) => format!(
                " (replicate {} of {}, series {})",
                r.index, r.of, r.series_id
            ),
            None => String::new(),
        }
    }

    /// After an interrupted replicate: the replicates that were not started.
    pub fn left_out(&self, r: Option<&Replicate>) -> String {
        match r {
            Some(r) if r.index < r.of => format!(
                "; replicates {}..={} of series {} were not started",
                r.index + 1,
                r.of,
                r.series_id
            ),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_numbers_its_replicates_under_one_id() {
        let s = Series::new(3);
        let r: Vec<Replicate> = s.replicates().into_iter().flatten().collect();
        assert_eq!(r.len(), 3);
        assert_eq!(r.iter().map(|r| r.index).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(r.iter().all(|x| x.series_id == r[0].series_id && x.of == 3));
        assert_eq!(
            s.left_out(Some(&r[0])),
            format!(
                "; replicates 2..=3 of series {} were not started",
                r[0].series_id
            )
        );
        assert_eq!(s.left_out(Some(&r[2])), "");
        assert_eq!(Series::new(1).replicates(), vec![None]);
    }
}
