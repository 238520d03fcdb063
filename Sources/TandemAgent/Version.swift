/// The software version every node reports (status, metrics, `tandem version`).
public enum TandemVersion {
    public static let current = "0.5.0-dev"
}
