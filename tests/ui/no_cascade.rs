// One mistake gives one error: the declared type (with a default in place of the mistake)
// and the value expression still work, so their uses below report nothing.
use gdf::framework::DiffuseArgs;

gdf::gdf!(pub StageC = schedule: Cosine(s = -1), scaler: Vp, target: Epsilon,
          noise_cond: CosineT, loss_weight: P2);

fn main() {
    let x0 = vec![0.5f32; 8];
    let g = StageC::default();
    let _ = g.diffuse(
        &x0,
        2,
        &DiffuseArgs {
            seed: 1,
            ..Default::default()
        },
    );
    let v = gdf::gdf!(schedule: Cosine, scaler: VP, target: Epsilon, noise_cond: CosineT);
    let _ = v.diffuse(
        &x0,
        2,
        &DiffuseArgs {
            seed: 1,
            ..Default::default()
        },
    );
    assert_eq!(core::mem::size_of_val(&v), 0);
}
