import ArgumentParser
import Augment
import Schedule

/// The base augmentation every policy is followed by (pad + random crop, flip, Cutout), shared
/// by `pba train`, `pba augment` and `pba evaluate`. Options left out take the defaults, or,
/// for `pba train --schedule`, what the schedule file says.
struct BaseAugmentationOptions: ParsableArguments {
    @Option(help: "Base augmentation: padding before the random crop (0 = no crop; default 4).")
    var padding: Int?

    @Option(help: "Base augmentation: Cutout size (0 = off; default 16).")
    var cutout: Int?

    @Flag(inversion: .prefixedNo, help: "Random horizontal flip in the base augmentation (default on; --no-flip for data where mirroring changes the class).")
    var flip: Bool?

    func validate() throws {
        if let padding, !(0...64).contains(padding) { throw ValidationError("--padding must be 0...64, got \(padding)") }
        if let cutout, !(0...1024).contains(cutout) { throw ValidationError("--cutout must be 0...1024, got \(cutout)") }
    }

    var value: Augment.BaseAugmentation {
        Augment.BaseAugmentation(padding: padding ?? 4, flip: flip ?? true, cutout: cutout ?? 16)
    }

    /// The schedule's own base augmentation, with any option given on the command line winning.
    func value(following schedule: Schedule.BaseAugmentation) -> Augment.BaseAugmentation {
        Augment.BaseAugmentation(padding: padding ?? (schedule.randomCrop ? schedule.padding : 0),
                                 flip: flip ?? schedule.horizontalFlip, cutout: cutout ?? schedule.cutoutSize)
    }
}
