from skim.metrics import normalize_answer, squad_scores


def test_normalisation_matches_the_official_script():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("Theater") == "theater"  # 'the' only as a whole word


def test_em_and_f1_on_known_cases():
    scores = squad_scores(
        ["Denver Broncos", "the broncos", "Carolina", ""],
        [["Denver Broncos"], ["Denver Broncos"], ["Carolina Panthers", "Panthers"], ["x"]],
    )
    # EM: 1, 0, 0, 0. F1: 1, 2·(1·0.5)/(1.5)=2/3, 2·(1·0.5)/1.5=2/3, 0
    assert scores["exact_match"] == 25.0
    assert abs(scores["f1"] - 100 * (1 + 2 / 3 + 2 / 3) / 4) < 1e-9
