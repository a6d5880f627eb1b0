import Testing
@testable import SlipwayCore

@Suite struct LoggedParamCheckTests {
    @Test func aLoggedParamIsComparedWithTheDeclaredOneItNames() {
        let declared = ["train.lr": "0.01", "train.epochs": "3", "eval.lr": "0.5", "seed": "7"]
        let logged: [(key: String, value: String)] = [("epochs", "3.0"), ("seed", "8"), ("train.lr", "1e-2"),
                                                      ("lr", "0.02"), ("batch", "64"), ("train.epochs", "4")]
        let found = LoggedParamCheck.mismatches(logged: logged, declared: declared)
        // `epochs` = 3.0 is 3; `seed` differs; `train.lr` = 1e-2 is 0.01; `lr` is ambiguous
        // (train.lr and eval.lr); `batch` is not declared; `train.epochs` differs.
        #expect(found.map(\.logged) == ["seed", "train.epochs"])
        #expect(found[0].description == "logged param 'seed' = '8' differs from declared param 'seed' = '7' (params.yaml)")
        #expect(LoggedParamCheck.mismatches(logged: [("flag", "True")], declared: ["a.flag": "true"]).isEmpty)
        #expect(LoggedParamCheck.mismatches(logged: [("name", "resnet ")], declared: ["model.name": "resnet"]).isEmpty)
    }
}
